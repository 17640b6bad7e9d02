// core/worktree.ts against real git repositories: where a branch's worktree is or will be (reuse,
// a local branch, a remote-tracking one, HEAD), every conflict refused before anything is made,
// and withBranchWorktree creating the plan's worktree once, only when its caller says so.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findRepository, listWorktrees } from "../../../src/git/repo.js";
import { ConflictError, UserError } from "../../../src/shared/errors.js";
import { heyoHome } from "../../../src/state/home.js";
import { applyWorktreePlan, planWorktree, withBranchWorktree } from "../../../src/core/worktree.js";
import { withTempDir } from "../helpers/fixtures.js";

const QUIET = { info: () => undefined, progress: () => undefined };

function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main", ...args], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/** A repository at <root>/repo with one commit (unless empty), its worktrees going beside it. */
function makeRepo(root: string, options: { empty?: boolean } = {}): string {
  const repo = join(root, "repo");
  mkdirSync(repo);
  git(repo, "init", "-q");
  if (!options.empty) {
    writeFileSync(join(repo, "README.md"), "hello\n");
    git(repo, "add", ".");
    git(repo, "commit", "-qm", "first");
  }
  return repo;
}

function withRepo<T>(fn: (repo: string, root: string) => Promise<T>, options: { empty?: boolean } = {}): Promise<T> {
  return withTempDir((dir) => {
    const root = realpathSync(dir);
    return fn(makeRepo(root, options), root);
  });
}

describe("planWorktree", () => {
  test("a new branch goes to ../<slug>, made from HEAD", () =>
    withRepo(async (repo, root) => {
      const plan = await planWorktree(await findRepository(repo), "feature/x", undefined, repo);
      assert.deepEqual(plan, { branch: "feature/x", slug: "feature-x", path: join(root, "feature-x"), action: { kind: "create", from: "head" } });
      assert.ok(!existsSync(plan.path), "planning creates nothing");
    }));

  test("an existing local branch is checked out, not made again", () =>
    withRepo(async (repo) => {
      git(repo, "branch", "topic");
      const plan = await planWorktree(await findRepository(repo), "topic", undefined, repo);
      assert.deepEqual(plan.action, { kind: "create", from: "local" });
    }));

  test("a branch already checked out is reused where it is; --path elsewhere is refused", () =>
    withRepo(async (repo, root) => {
      git(repo, "worktree", "add", "-q", "-b", "topic", join(root, "somewhere"));
      const repository = await findRepository(repo);
      const plan = await planWorktree(repository, "topic", undefined, repo);
      assert.deepEqual(plan, { branch: "topic", slug: "topic", path: join(root, "somewhere"), action: { kind: "reuse" } });
      await assert.rejects(planWorktree(repository, "topic", join(root, "other"), repo), (error: unknown) => error instanceof ConflictError && /already checked out at/.test(error.message));
    }));

  test("a folder that is in the way is refused; an empty one is used", () =>
    withRepo(async (repo, root) => {
      mkdirSync(join(root, "busy"));
      writeFileSync(join(root, "busy", "file"), "x");
      const repository = await findRepository(repo);
      await assert.rejects(planWorktree(repository, "busy", undefined, repo), (error: unknown) => error instanceof ConflictError && /already exists/.test(error.message));
      mkdirSync(join(root, "empty"));
      assert.equal((await planWorktree(repository, "empty", undefined, repo)).path, join(root, "empty"));
    }));

  test("two branch names that make the same folder name: the second is refused", () =>
    withRepo(async (repo, root) => {
      git(repo, "worktree", "add", "-q", "-b", "feature/x", join(root, "feature-x"));
      await assert.rejects(planWorktree(await findRepository(repo), "feature-x", undefined, repo), (error: unknown) => error instanceof ConflictError && /is already the worktree of branch feature\/x/.test(error.message));
    }));

  test("a worktree folder deleted by hand is pruned, so the branch can be checked out again", () =>
    withRepo(async (repo, root) => {
      git(repo, "worktree", "add", "-q", "-b", "gone", join(root, "gone"));
      rmSync(join(root, "gone"), { recursive: true, force: true });
      const plan = await planWorktree(await findRepository(repo), "gone", undefined, repo);
      assert.deepEqual(plan.action, { kind: "create", from: "local" });
    }));

  test("a branch only on a remote is tracked from it, unless -b asks for HEAD", () =>
    withRepo(async (repo, root) => {
      const upstream = join(root, "upstream");
      git(root, "clone", "-q", repo, upstream);
      git(upstream, "branch", "remote-only");
      git(repo, "remote", "add", "up", upstream);
      git(repo, "fetch", "-q", "up");
      const repository = await findRepository(repo);
      assert.deepEqual((await planWorktree(repository, "remote-only", undefined, repo)).action, { kind: "create", from: "remote", remoteRef: "up/remote-only" });
      assert.deepEqual((await planWorktree(repository, "remote-only", undefined, repo, true)).action, { kind: "create", from: "head" });
    }));

  test("no commits yet, or a name git refuses: a UserError saying what to do", () =>
    withRepo(async (repo) => {
      const repository = await findRepository(repo);
      await assert.rejects(planWorktree(repository, "x", undefined, repo), (error: unknown) => error instanceof UserError && /no commits yet/.test(error.message));
      await assert.rejects(planWorktree(repository, "bad..name", undefined, repo), UserError);
      await assert.rejects(planWorktree(repository, "+", undefined, repo), (error: unknown) => error instanceof UserError && /no letters or digits/.test(error.message));
    }, { empty: true }));
});

describe("applyWorktreePlan", () => {
  test("creates the planned worktree on the planned branch", () =>
    withRepo(async (repo, root) => {
      const repository = await findRepository(repo);
      await applyWorktreePlan(repository, await planWorktree(repository, "feature/y", undefined, repo));
      const worktrees = await listWorktrees(repo);
      assert.ok(worktrees.some((w) => w.branch === "feature/y" && w.path === join(root, "feature-y")));
      assert.equal(git(join(root, "feature-y"), "rev-parse", "HEAD"), git(repo, "rev-parse", "HEAD"));
    }));
});

describe("withBranchWorktree", () => {
  test("nothing is created unless the caller calls create; create runs once", () =>
    withRepo(async (repo, root) => {
      const home = heyoHome({ HEYO_HOME: join(root, "heyo") });
      await assert.rejects(
        withBranchWorktree(home, { branch: "refused", cwd: repo }, QUIET, () => Promise.reject(new UserError("refused by the caller's own check"))),
        /refused by the caller/,
      );
      assert.ok(!existsSync(join(root, "refused")), "a refused request creates nothing");
      const lines: string[] = [];
      await withBranchWorktree(home, { branch: "made", cwd: repo }, { info: (line: string) => lines.push(line), progress: () => undefined }, async (_repo, plan, create) => {
        await create();
        await create();
        return plan;
      });
      assert.ok(existsSync(join(root, "made", "README.md")));
      assert.deepEqual(lines, [`created worktree ${join(root, "made")} for branch made`]);
    }));
});
