// Which virtiofsd shares a VM sandbox gets and what is bound into each: the git store as the
// 'gitdir' share with the host's objects bound read-only in it, heyvm's `.git` file bound
// read-only into /workspace; for the main worktree everything inside the workspace share.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { gitDirShare, planShares } from "../../../../src/backends/libvirt/shares.js";
import type { ExtraMount, SandboxSpec } from "../../../../src/state/records.js";

function spec(workspace: string, mounts: ExtraMount[]): SandboxSpec {
  return { workspace, mounts } as unknown as SandboxSpec;
}

describe("libvirt shares", () => {
  test("a linked worktree: /workspace with the read-only .git file, the store with the host's objects read-only", () => {
    const linked = spec("/r/feat", [
      { host: "/h/sandboxes/x/git", guest: "/heyvm/git", readOnly: false },
      { host: "/r/repo/.git/objects", guest: "/heyvm/git/host-objects", readOnly: true },
      { host: "/h/sandboxes/x/git-link", guest: "/workspace/.git", readOnly: true },
    ]);
    assert.equal(gitDirShare(linked)?.guest, "/heyvm/git");
    assert.deepEqual(planShares(linked), [
      { source: "/r/feat", tag: "workspace", binds: [{ host: "/h/sandboxes/x/git-link", target: "/r/feat/.git", readOnly: true }], nameguard: true },
      { source: "/h/sandboxes/x/git", tag: "gitdir", binds: [{ host: "/r/repo/.git/objects", target: "/h/sandboxes/x/git/host-objects", readOnly: true }], nameguard: false },
    ]);
  });

  test("the main worktree: the store over /workspace/.git, then the objects in it, in one share", () => {
    const main = spec("/r/repo", [
      { host: "/r/repo/.git/objects", guest: "/workspace/.git/host-objects", readOnly: true },
      { host: "/h/sandboxes/x/git", guest: "/workspace/.git", readOnly: false },
    ]);
    assert.equal(gitDirShare(main), undefined);
    assert.deepEqual(planShares(main), [
      {
        source: "/r/repo",
        tag: "workspace",
        binds: [
          { host: "/h/sandboxes/x/git", target: "/r/repo/.git", readOnly: false },
          { host: "/r/repo/.git/objects", target: "/r/repo/.git/host-objects", readOnly: true },
        ],
        nameguard: true,
      },
    ]);
  });
});
