// Resolving what a user typed to exactly one local sandbox: full id, name, branch, then id
// prefix, each tier ambiguous or not on its own; and reading the set of sandboxes.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { allSandboxes, findByBranch, resolveSandbox } from "../../../src/core/catalog.js";
import { ConflictError, ExitCode, NotFoundError } from "../../../src/shared/errors.js";
import { heyoHome, type HeyoHome } from "../../../src/state/home.js";
import { writeSpec, type SandboxSpec } from "../../../src/state/records.js";
import { SandboxDir } from "../../../src/state/sandbox-dir.js";
import { sandboxSpec, withTempDir } from "../helpers/fixtures.js";

/** A temporary HEYO_HOME holding the given sandbox records. */
function withHome(specs: SandboxSpec[], fn: (home: HeyoHome) => void): Promise<void> {
  return withTempDir((root) => {
    const home = heyoHome({ HEYO_HOME: root });
    for (const spec of specs) {
      const dir = new SandboxDir(home, spec.id);
      mkdirSync(dir.root, { recursive: true });
      writeSpec(dir, spec);
    }
    fn(home);
  });
}

const featureX = sandboxSpec({ id: "sb-aaaa0001", name: "wt-feature-x", git: { commonDir: "/repo/.git", branch: "feature/x" } });
const main = sandboxSpec({ id: "sb-aaaa0002", name: "wt-main", git: { commonDir: "/repo/.git", branch: "main" } });
const scratch = sandboxSpec({ id: "sb-bbbb0003", name: "scratch", git: null });
const three = [featureX, main, scratch];

function resolvedId(home: HeyoHome, query: string): string {
  return resolveSandbox(home, query).spec.id;
}

describe("resolveSandbox", () => {
  test("a full id resolves to that sandbox and its folder", () =>
    withHome(three, (home) => {
      const entry = resolveSandbox(home, "sb-aaaa0002");
      assert.deepEqual(entry.spec, main);
      assert.equal(entry.dir.id, "sb-aaaa0002");
      assert.equal(entry.dir.root, `${home.sandboxes}/sb-aaaa0002`);
    }));

  test("a name or a branch resolves to its sandbox", () =>
    withHome(three, (home) => {
      assert.equal(resolvedId(home, "wt-feature-x"), "sb-aaaa0001");
      assert.equal(resolvedId(home, "scratch"), "sb-bbbb0003");
      assert.equal(resolvedId(home, "feature/x"), "sb-aaaa0001");
      assert.equal(resolvedId(home, "main"), "sb-aaaa0002");
    }));

  test("a unique id prefix of two or more characters resolves, with or without sb-", () =>
    withHome(three, (home) => {
      assert.equal(resolvedId(home, "sb-bbbb"), "sb-bbbb0003");
      assert.equal(resolvedId(home, "bbbb"), "sb-bbbb0003");
      assert.equal(resolvedId(home, "bb"), "sb-bbbb0003");
      assert.equal(resolvedId(home, "aaaa0001"), "sb-aaaa0001");
    }));

  test("a one-character prefix is never enough", () =>
    withHome([scratch], (home) => {
      assert.throws(() => resolveSandbox(home, "b"), NotFoundError);
    }));

  test("an ambiguous prefix is a conflict (exit 4) naming every match", () =>
    withHome(three, (home) => {
      assert.throws(
        () => resolveSandbox(home, "aaaa"),
        (error: unknown) => {
          assert.ok(error instanceof ConflictError);
          assert.equal(error.exitCode, ExitCode.conflict);
          assert.equal(error.exitCode, 4);
          assert.match(error.message, /^"aaaa" matches 2 sandboxes: /);
          assert.ok(error.message.includes("sb-aaaa0001 (wt-feature-x, /home/dev/repo-worktrees/feature-x)"), error.message);
          assert.ok(error.message.includes("sb-aaaa0002 (wt-main, "), error.message);
          assert.equal(error.hint, "use the full sandbox id");
          return true;
        },
      );
    }));

  test("nothing matching is not-found (exit 3) with a hint to list", () =>
    withHome(three, (home) => {
      for (const query of ["feature/y", "sb-cccc0001", "sb-deadbeef", "zz"]) {
        assert.throws(
          () => resolveSandbox(home, query),
          (error: unknown) => {
            assert.ok(error instanceof NotFoundError);
            assert.equal(error.exitCode, 3);
            assert.equal(error.message, `no sandbox matches "${query}"`);
            assert.equal(error.hint, "run `heyvm list --all` to see sandbox ids and names");
            return true;
          },
        );
      }
    }));

  test("a name wins over a branch, and a branch over an id prefix", () => {
    const namedRelease = sandboxSpec({ id: "sb-cccc0001", name: "release", git: { commonDir: "/r/.git", branch: "wip" } });
    const onRelease = sandboxSpec({ id: "sb-cccc0002", name: "wt-release", git: { commonDir: "/r/.git", branch: "release" } });
    const onCc = sandboxSpec({ id: "sb-dddd0003", name: "wt-cc", git: { commonDir: "/r/.git", branch: "cc" } });
    return withHome([namedRelease, onRelease, onCc], (home) => {
      assert.equal(resolvedId(home, "release"), "sb-cccc0001");
      assert.equal(resolvedId(home, "cc"), "sb-dddd0003", "branch cc, although cc is also a prefix of two ids");
    });
  });

  test("a tier with two matches is a conflict even when a later tier would be unique", () => {
    const a = sandboxSpec({ id: "sb-eeee0001", name: "wt-shared", git: { commonDir: "/one/.git", branch: "shared" } });
    const b = sandboxSpec({ id: "sb-ffff0002", name: "wt-shared-2", git: { commonDir: "/two/.git", branch: "shared" } });
    return withHome([a, b], (home) => {
      assert.throws(() => resolveSandbox(home, "shared"), { name: "ConflictError", message: /^"shared" matches 2 sandboxes: sb-eeee0001 .*, sb-ffff0002 / });
    });
  });

  test("sandboxes with an unreadable sandbox.json are skipped, never fatal", () =>
    withHome([scratch], (home) => {
      mkdirSync(`${home.sandboxes}/sb-cccc0004`);
      writeFileSync(`${home.sandboxes}/sb-cccc0004/sandbox.json`, `{"id": "sb-cccc0004", "name": "torn`);
      mkdirSync(`${home.sandboxes}/sb-cccc0005`);
      assert.throws(() => resolveSandbox(home, "sb-cccc0004"), NotFoundError);
      assert.equal(resolvedId(home, "scratch"), "sb-bbbb0003");
      assert.deepEqual(
        allSandboxes(home).map((e) => e.spec.id),
        ["sb-bbbb0003"],
      );
    }));
});

describe("allSandboxes", () => {
  test("only sb- folders with a readable sandbox.json count, and a missing sandboxes folder means none", () =>
    withHome([], (home) => {
      assert.deepEqual(allSandboxes(home), []);
      mkdirSync(home.sandboxes, { recursive: true });
      mkdirSync(`${home.sandboxes}/sb-00000001`);
      mkdirSync(`${home.sandboxes}/tmp-upload`);
      writeFileSync(`${home.sandboxes}/notes.txt`, "x");
      assert.deepEqual(allSandboxes(home), []);
      const spec = sandboxSpec({ id: "sb-00000002" });
      mkdirSync(`${home.sandboxes}/sb-00000002`);
      writeSpec(new SandboxDir(home, spec.id), spec);
      assert.deepEqual(allSandboxes(home).map((e) => e.spec.id), ["sb-00000002"]);
    }));
});

describe("findByBranch", () => {
  test("the newest sandbox for that repository and branch; other repositories do not count", () => {
    const older = sandboxSpec({ id: "sb-11110001", git: { commonDir: "/repo/.git", branch: "feature/x" }, createdAt: "2025-01-01T00:00:00.000Z" });
    const newer = sandboxSpec({ id: "sb-11110002", git: { commonDir: "/repo/.git", branch: "feature/x" }, createdAt: "2025-03-01T00:00:00.000Z" });
    const otherRepo = sandboxSpec({ id: "sb-11110003", git: { commonDir: "/other/.git", branch: "feature/x" }, createdAt: "2025-06-01T00:00:00.000Z" });
    return withHome([older, newer, otherRepo], (home) => {
      assert.equal(findByBranch(home, "/repo/.git", "feature/x")?.spec.id, "sb-11110002");
      assert.equal(findByBranch(home, "/other/.git", "feature/x")?.spec.id, "sb-11110003");
      assert.equal(findByBranch(home, "/repo/.git", "main"), undefined);
    });
  });
});
