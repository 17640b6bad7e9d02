// Bad input gets one clear line and a non-zero exit, creates nothing half-way, and never
// touches the user's uncommitted changes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bubblewrapMissing, git, makeTestEnv, type TestEnv, idOf } from "./helpers/env.js";

function sandboxCount(t: TestEnv): number {
  return existsSync(join(t.home, "sandboxes")) ? readdirSync(join(t.home, "sandboxes")).length : 0;
}

function assertOneLineError(stderr: string): void {
  assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
  assert.match(stderr, /^heyvm: .+\n( {2}.+\n)?$/, `one line (plus a hint): ${JSON.stringify(stderr)}`);
}

describe("bad input", () => {
  let t: TestEnv;
  before(() => {
    t = makeTestEnv();
    writeFileSync(join(t.repo, "README.md"), "hello\nwork in progress\n");
  });
  after(async () => t.cleanup());

  test("invalid branch names are rejected as git rejects them, creating nothing", async () => {
    for (const name of ["bad..name", "with space", "a~b", "tail/", "x.lock", "@{-1}", "a:b"]) {
      const result = await t.run(["wt", name, "--detach"]);
      assert.equal(result.code, 2, `${name}: ${result.stderr}`);
      assert.match(result.stderr, /is not a valid branch name/);
      assertOneLineError(result.stderr);
    }
    const dashed = await t.run(["wt", "--detach", "--", "-x"]);
    assert.equal(dashed.code, 2);
    assert.equal(sandboxCount(t), 0);
    assert.equal(git(t.repo, "worktree", "list").trim().split("\n").length, 1);
    assert.equal(git(t.repo, "branch", "--list").trim(), "* main");
  });

  test("not inside a git repository", async () => {
    const outside = join(t.root, "plain");
    mkdirSync(outside);
    const result = await t.run(["wt", "feature/x", "--detach"], { cwd: outside });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /not inside a git repository/);
    assertOneLineError(result.stderr);
    assert.deepEqual(readdirSync(outside), []);
  });

  test("a target folder that exists and is not the branch's worktree", async () => {
    const occupied = join(t.root, "occupied");
    mkdirSync(occupied);
    writeFileSync(join(occupied, "keep.txt"), "precious\n");
    const result = await t.run(["wt", "occupied", "--detach"]);
    assert.equal(result.code, 4);
    assert.match(result.stderr, /already exists and is not a worktree of occupied/);
    assertOneLineError(result.stderr);
    assert.equal(readFileSync(join(occupied, "keep.txt"), "utf8"), "precious\n");
    assert.equal(git(t.repo, "branch", "--list", "occupied"), "", "no branch created");
  });

  test("bubblewrap missing: says what to do, creates nothing", async () => {
    const result = await t.run(["wt", "needs/bwrap", "--detach", "--backend", "bubblewrap"], { env: { HEYVM_BWRAP: "/nonexistent/bwrap" } });
    assert.equal(result.code, 5);
    assert.match(result.stderr, /bwrap is not installed/);
    assert.match(result.stderr, /apt-get install bubblewrap/);
    assertOneLineError(result.stderr);
    assert.equal(existsSync(join(t.root, "needs-bwrap")), false, "no worktree");
    assert.equal(git(t.repo, "branch", "--list", "needs/bwrap"), "", "no branch");
    assert.equal(sandboxCount(t), 0);
  });

  test("unknown backend and unknown ids", async () => {
    const backend = await t.run(["wt", "x", "--detach", "--backend", "hyperv"]);
    assert.equal(backend.code, 2);
    assert.match(backend.stderr, /unknown backend "hyperv"/);
    for (const command of [["exec", "sb-00000000", "--", "true"], ["sh", "nothing-here"], ["stop", "nope"], ["logs", "nope"]]) {
      const result = await t.run(command);
      assert.equal(result.code, 3, `${command.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, /no sandbox matches/);
      assertOneLineError(result.stderr);
    }
  });

  test("names that slugify to the same folder, and ambiguous ids", { skip: bubblewrapMissing() }, async () => {
    const first = await t.run(["wt", "Feature/Same", "--detach"]);
    assert.equal(first.code, 0, first.stderr);
    const second = await t.run(["wt", "feature/same", "--detach"]);
    assert.equal(second.code, 4);
    assert.match(second.stderr, /already the worktree of branch Feature\/Same/);
    assertOneLineError(second.stderr);
    assert.equal(git(t.repo, "branch", "--list", "feature/same"), "", "no branch created for the loser");
    const other = await t.run(["wt", "feature/other", "--detach"]);
    assert.equal(other.code, 0, other.stderr);
    const ambiguous = await t.run(["exec", "sb-", "--", "true"]);
    assert.equal(ambiguous.code, 4);
    assert.match(ambiguous.stderr, /matches 2 sandboxes/);
    for (const id of [idOf(first.stdout), idOf(other.stdout)]) await t.run(["stop", id]);
  });

  test("the user's uncommitted change is still there", () => {
    assert.equal(readFileSync(join(t.repo, "README.md"), "utf8"), "hello\nwork in progress\n");
  });
});
