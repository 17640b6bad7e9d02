// Finds or creates the worktree of a branch: the branch's existing worktree wherever it is,
// else ../<slug> beside the main checkout. Every check runs before anything is created, and
// nothing here ever touches files of an existing checkout (uncommitted work stays as it is).
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Reporter } from "../shared/reporter.js";
import type { HeyoHome } from "../state/home.js";
import { withLock } from "../state/lock.js";
import {
  checkBranchName,
  findRepository,
  git,
  hasCommits,
  listWorktrees,
  localBranchExists,
  remoteTrackingBranches,
  type Repository,
} from "../git/repo.js";
import { slugify } from "../git/slug.js";
import { ConflictError, UserError } from "../shared/errors.js";
import { traceStep } from "../shared/trace.js";

export interface WorktreePlan {
  branch: string;
  slug: string;
  path: string;
  /** How to get there: nothing to do, or the git worktree add to run. */
  action: { kind: "reuse" } | { kind: "create"; from: "local" | "head" } | { kind: "create"; from: "remote"; remoteRef: string };
}

function samePath(a: string, b: string): boolean {
  return resolve(a) === resolve(b);
}

function isEmptyDir(path: string): boolean {
  return statSync(path).isDirectory() && readdirSync(path).length === 0;
}

/** Decides where the branch's worktree is or will be, rejecting every conflict up front. */
export async function planWorktree(repo: Repository, branch: string, requestedPath: string | undefined, cwd: string, fromHeadOnly = false): Promise<WorktreePlan> {
  await checkBranchName(repo.top, branch);
  const slug = slugify(branch);
  if (!slug) throw new UserError(`the branch name "${branch}" has no letters or digits to name a folder after`, { hint: "pass --path to choose the folder" });
  let worktrees = await listWorktrees(repo.top);
  const mainTop = worktrees[0]?.path ?? dirname(repo.commonDir); // the main worktree comes first
  const target = requestedPath ? resolve(cwd, requestedPath) : join(dirname(mainTop), slug);
  if (worktrees.some((w) => w.prunable && (w.branch === branch || samePath(w.path, target)))) {
    // A folder deleted by hand leaves its registration behind, which blocks `worktree add` for
    // this branch or folder. Only then is git asked to prune (it keeps locked worktrees, e.g.
    // on a drive that is not mounted now).
    await git(repo.top, ["worktree", "prune"]);
    worktrees = await listWorktrees(repo.top);
  }
  const existing = worktrees.find((w) => w.branch === branch);
  if (existing) {
    if (requestedPath && !samePath(existing.path, target)) {
      throw new ConflictError(`branch ${branch} is already checked out at ${existing.path}`, "drop --path to use that worktree, or remove it with `git worktree remove`");
    }
    return { branch, slug, path: existing.path, action: { kind: "reuse" } };
  }
  const occupant = worktrees.find((w) => samePath(w.path, target));
  if (occupant) {
    const what = occupant.branch ? `branch ${occupant.branch}` : "a detached HEAD";
    throw new ConflictError(`${target} is already the worktree of ${what}`, "the two branch names make the same folder name: pass --path to choose another folder");
  }
  if (existsSync(target) && !isEmptyDir(target)) {
    throw new ConflictError(`${target} already exists and is not a worktree of ${branch}`, "move it away, or pass --path to choose another folder");
  }
  if (await localBranchExists(repo.top, branch)) return { branch, slug, path: target, action: { kind: "create", from: "local" } };
  const remotes = fromHeadOnly ? [] : await remoteTrackingBranches(repo.top, branch);
  if (remotes.length > 1) {
    throw new ConflictError(`branch ${branch} exists on several remotes (${remotes.join(", ")})`, `create it from the one you want first: git branch --track ${branch} ${remotes[0]}`);
  }
  const [remoteRef] = remotes;
  if (remoteRef) return { branch, slug, path: target, action: { kind: "create", from: "remote", remoteRef } };
  if (!(await hasCommits(repo.top))) {
    throw new UserError("the repository has no commits yet, so there is nothing to branch from", { hint: "make a first commit, then run heyvm wt again" });
  }
  return { branch, slug, path: target, action: { kind: "create", from: "head" } };
}

/** Carries out a plan made by planWorktree. */
export async function applyWorktreePlan(repo: Repository, plan: WorktreePlan): Promise<void> {
  const { action } = plan;
  if (action.kind === "reuse") return;
  if (action.from === "local") await git(repo.top, ["worktree", "add", "--quiet", plan.path, plan.branch]);
  else if (action.from === "remote") await git(repo.top, ["worktree", "add", "--quiet", "--track", "-b", plan.branch, plan.path, action.remoteRef]);
  else await git(repo.top, ["worktree", "add", "--quiet", "-b", plan.branch, plan.path, "HEAD"]);
}

export interface BranchWorktreeRequest {
  branch: string;
  cwd: string;
  /** --path: where the worktree goes instead of ../<slug>. */
  path?: string;
  /** -b: a missing branch is made from HEAD (never from a remote-tracking branch). */
  createBranch?: boolean;
}

/** Creates the planned worktree (once; nothing when it exists) and says so. */
export type CreateWorktree = () => Promise<void>;

/** How long a wt or deploy waits for another one working on the same repository. */
const REPOSITORY_LOCK_WAIT_MS = 120_000;

/**
 * The one "find the repository, take its lock, plan the branch's worktree, create it" step of
 * `wt` and `wt --deploy`. Git's worktree list is read only under the lock (another heyvm may be
 * in the middle of `git worktree add`). `use` runs under the lock with the plan; it calls
 * `create` once its own checks have passed, so a refused request creates nothing.
 */
export async function withBranchWorktree<T>(
  home: HeyoHome,
  request: BranchWorktreeRequest,
  reporter: Reporter,
  use: (repo: Repository, plan: WorktreePlan, create: CreateWorktree) => Promise<T>,
): Promise<T> {
  const repo = await findRepository(request.cwd);
  traceStep("wt: repository found");
  return withLock(home, `repo:${repo.commonDir}`, REPOSITORY_LOCK_WAIT_MS, async () => {
    traceStep("wt: repository lock taken");
    const plan = await planWorktree(repo, request.branch, request.path, request.cwd, request.createBranch === true);
    traceStep(`wt: worktree planned (${plan.action.kind})`);
    let created = false;
    const create = async () => {
      if (created) return;
      created = true;
      await applyWorktreePlan(repo, plan);
      traceStep("wt: worktree in place");
      if (plan.action.kind === "create") reporter.info(`created worktree ${plan.path} for branch ${plan.branch}`);
    };
    return use(repo, plan, create);
  });
}
