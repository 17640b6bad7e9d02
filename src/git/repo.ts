// The git facts heyvm needs, always asked of git itself (hardened: safe-git.ts): which
// repository we are in, its worktrees, which branches exist, and whether a name is valid.
import { isAbsolute, resolve } from "node:path";
import { CommandFailedError } from "../shared/run.js";
import { runGit } from "./safe-git.js";
import { NotFoundError, OperationFailedError, UnavailableError, UserError, isErrnoError } from "../shared/errors.js";

export interface Repository {
  /** Top folder of the worktree the command was run in. */
  top: string;
  /** The shared .git folder of all worktrees. */
  commonDir: string;
}

export interface Worktree {
  path: string;
  /** Short branch name, or null when detached/bare. */
  branch: string | null;
  /** Registered with git but its folder is gone. */
  prunable: boolean;
}

/** Runs git and turns "git is missing" and failures into errors a user can act on. */
export async function git(cwd: string, args: readonly string[]): Promise<string> {
  try {
    const result = await runGit(args, { cwd });
    return result.stdout;
  } catch (error) {
    if (isErrnoError(error) && error.code === "ENOENT") {
      if (error.path === "git" || error.syscall?.startsWith("spawn")) {
        throw new UnavailableError("git is not installed", "install git (e.g. `apt-get install git`)");
      }
    }
    if (error instanceof CommandFailedError) {
      const message = error.result.stderr.trim().split("\n").filter(Boolean).pop() ?? error.message;
      throw new OperationFailedError(`git ${args[0]} failed: ${message.replace(/^(fatal|error): /, "")}`);
    }
    throw error;
  }
}

/**
 * Which repository cwd is in, from `git rev-parse` alone. It lists no worktrees: that reads
 * .git/worktrees/*, which another heyvm may be in the middle of writing (`git worktree add`),
 * so worktrees are listed only under the repository's lock (core/worktree.ts).
 */
export async function findRepository(cwd: string): Promise<Repository> {
  let output: string;
  try {
    const result = await runGit(["rev-parse", "--show-toplevel", "--git-common-dir"], { cwd });
    output = result.stdout;
  } catch (error) {
    if (isErrnoError(error) && error.code === "ENOENT" && error.syscall?.startsWith("spawn")) {
      throw new UnavailableError("git is not installed", "install git (e.g. `apt-get install git`)");
    }
    if (isErrnoError(error) && error.code === "ENOENT") {
      throw new NotFoundError(`the folder ${cwd} does not exist`);
    }
    throw new UserError(`not inside a git repository (${cwd})`, { hint: "cd into a repository's working tree first, or run `git init`", exitCode: 2 });
  }
  const [top, common] = output.trim().split("\n");
  if (!top || !common) throw new UserError(`not inside a git working tree (${cwd})`, { hint: "run heyvm wt from a checkout, not a bare repository" });
  return { top, commonDir: isAbsolute(common) ? common : resolve(cwd, common) };
}

/** Parses `git worktree list --porcelain`; the first entry is the main worktree. */
export async function listWorktrees(cwd: string): Promise<Worktree[]> {
  const output = await git(cwd, ["worktree", "list", "--porcelain"]);
  const worktrees: Worktree[] = [];
  let current: Worktree | undefined;
  for (const line of output.split("\n")) {
    if (line.startsWith("worktree ")) {
      current = { path: line.slice("worktree ".length), branch: null, prunable: false };
      worktrees.push(current);
    } else if (current && line.startsWith("branch refs/heads/")) {
      current.branch = line.slice("branch refs/heads/".length);
    } else if (current && line.startsWith("prunable")) {
      current.prunable = true;
    }
  }
  return worktrees;
}

/** Rejects a branch name exactly as git would. */
export async function checkBranchName(cwd: string, branch: string): Promise<void> {
  const bad = () => new UserError(`"${branch}" is not a valid branch name`, { hint: "see `git help check-ref-format` for the rules (no spaces, no '..', no '~^:?*[', not starting with '-')" });
  if (branch.length === 0 || branch.startsWith("-")) throw bad();
  const result = await runGit(["check-ref-format", "--branch", branch], { cwd, allowFailure: true });
  if (result.code !== 0) throw bad();
  // --branch also expands @{-1} and the like; a literal name must come back unchanged.
  if (result.stdout.trim() !== branch) throw bad();
}

export async function localBranchExists(cwd: string, branch: string): Promise<boolean> {
  const result = await runGit(["show-ref", "--verify", "--quiet", `refs/heads/${branch}`], { cwd, allowFailure: true });
  return result.code === 0;
}

/** Remote-tracking branches named like `branch` (origin/branch …), as "remote/branch". */
export async function remoteTrackingBranches(cwd: string, branch: string): Promise<string[]> {
  const remotes = (await git(cwd, ["remote"])).split("\n").filter(Boolean);
  if (remotes.length === 0) return [];
  const refs = new Set((await git(cwd, ["for-each-ref", "--format=%(refname)", "refs/remotes/"])).split("\n").filter(Boolean));
  return remotes.filter((remote) => refs.has(`refs/remotes/${remote}/${branch}`)).map((remote) => `${remote}/${branch}`);
}

export async function hasCommits(cwd: string): Promise<boolean> {
  const result = await runGit(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], { cwd, allowFailure: true });
  return result.code === 0;
}

export async function configValue(cwd: string, key: string): Promise<string | undefined> {
  const result = await runGit(["config", "--get", key], { cwd, allowFailure: true });
  const value = result.stdout.trim();
  return result.code === 0 && value ? value : undefined;
}
