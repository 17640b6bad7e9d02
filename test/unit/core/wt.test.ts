// core/wt.ts's ensureWtSandbox against real git repositories and real sandbox records (nothing is
// started): a branch gets its worktree and one sandbox record with the git store's mounts and the
// repository's identity; a stopped one is reused with the new settings; a running one with other
// settings is refused and left as it is; a refused request creates no worktree.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureWtSandbox, type WtRequest } from "../../../src/core/wt.js";
import { ConflictError, UserError } from "../../../src/shared/errors.js";
import { heyoHome, type HeyoHome } from "../../../src/state/home.js";
import { currentBootId, processStartTime } from "../../../src/state/liveness.js";
import { readSpec, writeOwner } from "../../../src/state/records.js";
import { findSystemExecutable } from "../../../src/shared/run.js";
import { seccompHelper } from "../../../src/backends/seccomp.js";
import { withTempDir } from "../helpers/fixtures.js";

const QUIET = { info: () => undefined, progress: () => undefined };
const skip = !findSystemExecutable("bwrap") ? "bubblewrap (bwrap) is not installed" : !seccompHelper() ? "heyvm-seccomp is not built (npm run build)" : false;

function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", ["-c", "init.defaultBranch=main", ...args], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

interface Fixture {
  home: HeyoHome;
  repo: string;
  root: string;
  request(overrides?: Partial<WtRequest>): WtRequest;
}

function withFixture(fn: (f: Fixture) => Promise<void>): Promise<void> {
  return withTempDir(async (dir) => {
    const root = realpathSync(dir);
    const repo = join(root, "repo");
    mkdirSync(repo);
    git(repo, "init", "-q");
    git(repo, "config", "user.name", "Ada Lovelace");
    git(repo, "config", "user.email", "ada@example.invalid");
    writeFileSync(join(repo, "README.md"), "hello\n");
    git(repo, "add", ".");
    git(repo, "commit", "-qm", "first");
    const home = heyoHome({ HEYO_HOME: join(root, "heyo") });
    await fn({ home, repo, root, request: (overrides = {}) => ({ branch: "feature/x", cwd: repo, backend: "bubblewrap", network: "none", tty: false, ...overrides }) });
  });
}

describe("ensureWtSandbox", { skip }, () => {
  test("a new branch: its worktree, one record on the git store, the repository's identity in its home; nothing started", () =>
    withFixture(async ({ home, root, request }) => {
      const { sandbox, backend } = await ensureWtSandbox(home, request(), QUIET);
      assert.equal(backend.name, "bubblewrap");
      assert.equal(sandbox.worktree, join(root, "feature-x"));
      assert.equal(sandbox.createdWorktree, true);
      assert.ok(existsSync(join(root, "feature-x", "README.md")));
      const spec = readSpec(sandbox.entry.dir);
      assert.equal(spec?.name, "wt-feature-x");
      assert.deepEqual(spec?.git, { commonDir: join(root, "repo", ".git"), branch: "feature/x" });
      assert.equal(spec?.workspace, join(root, "feature-x"));
      assert.equal(spec?.network, false);
      assert.ok(spec?.mounts.some((mount) => mount.host === sandbox.entry.dir.gitStorePath && !mount.readOnly), "the sandbox's own git store");
      assert.ok(spec?.mounts.some((mount) => mount.guest === "/workspace/.git" && mount.readOnly), "heyvm's .git file, read-only");
      const gitconfig = readFileSync(join(sandbox.entry.dir.homePath, ".gitconfig"), "utf8");
      assert.match(gitconfig, /name = Ada Lovelace/);
      assert.match(gitconfig, /email = ada@example\.invalid/);
      assert.ok(!existsSync(sandbox.entry.dir.ownerPath), "no owner was started");
    }));

  test("again for a stopped sandbox: the same record, with the settings asked for now", () =>
    withFixture(async ({ home, request }) => {
      const first = await ensureWtSandbox(home, request(), QUIET);
      const second = await ensureWtSandbox(home, request({ pids: 64, network: "outbound" }), QUIET);
      assert.equal(second.sandbox.entry.spec.id, first.sandbox.entry.spec.id);
      assert.equal(second.sandbox.createdWorktree, false);
      const spec = readSpec(second.sandbox.entry.dir);
      assert.equal(spec?.pids, 64);
      assert.equal(spec?.network, true);
      assert.equal(readdirSync(home.sandboxes).length, 1, "one record for the branch");
    }));

  test("a running sandbox asked for with other settings is refused and left as it is", () =>
    withFixture(async ({ home, request }) => {
      const { sandbox } = await ensureWtSandbox(home, request(), QUIET);
      // a live owner (this process, true to /proc; its socket silent): the sandbox reads as running
      writeOwner(sandbox.entry.dir, { pid: process.pid, pidStartTime: processStartTime(process.pid) ?? "", bootId: currentBootId() ?? "", startedAt: new Date().toISOString(), state: "running", mode: "detached", backend: "bubblewrap", guestIp: null, ssh: null, machine: {} });
      await assert.rejects(ensureWtSandbox(home, request({ pids: 64 }), QUIET), (error: unknown) => error instanceof ConflictError && /is running with --pids default/.test(error.message) && /heyvm stop/.test(error.hint ?? ""));
      assert.equal(readSpec(sandbox.entry.dir)?.pids, null, "its record is unchanged");
      const same = await ensureWtSandbox(home, request(), QUIET);
      assert.equal(same.sandbox.entry.spec.id, sandbox.entry.spec.id, "the same settings reuse it");
    }));

  test("a refused request (a backend that cannot run, --pids on a VM) creates no worktree and no record", () =>
    withFixture(async ({ home, root, request }) => {
      await assert.rejects(ensureWtSandbox(home, request({ backend: "apple_virt" }), QUIET), UserError);
      await assert.rejects(ensureWtSandbox(home, request({ backend: "libvirt", pids: 64 }), QUIET), UserError);
      assert.ok(!existsSync(join(root, "feature-x")), "no worktree");
      assert.ok(!existsSync(home.sandboxes) || readdirSync(home.sandboxes).length === 0, "no sandbox record");
    }));
});
