// The git half of `heyvm fork`: a new branch and worktree that hold the source worktree's
// current state, uncommitted and untracked changes included, without disturbing the source.
// The source's files are read by git into a temporary index and a temporary object folder (the
// host's objects as its alternate), never the source's own index nor the host's object store:
// the snapshot is a tree there, the new worktree is checked out at the branch's commit and the
// files that differ are written from that tree (git writes links as links and never through one),
// so the fork's `git status` shows the same changes as the source's. Ignored files are not copied.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hardenedGitArgs, hardenedGitEnv } from "../git/safe-git.js";
import { OperationFailedError } from "../shared/errors.js";
import { run } from "../shared/run.js";

export interface WorktreeSnapshotSource {
  commonDir: string;
  /** The source's worktree (the sandbox's to write: read by git as data only). */
  worktree: string;
  /** The source worktree's admin folder in the host's git (its index seeds the scratch one: unchanged files are not hashed again). */
  adminDir: string;
  /** The commit the source's branch is at (after a sync): the fork's branch starts there. */
  base: string;
}

/** git with the scratch object folder (the host's objects as its alternate) and, when asked, the scratch index. */
async function scratchGit(scratch: string, args: readonly string[], options: { index: boolean; input?: string }): Promise<string> {
  const env = {
    ...hardenedGitEnv(),
    GIT_OBJECT_DIRECTORY: join(scratch, "objects"),
    ...(options.index ? { GIT_INDEX_FILE: join(scratch, "index") } : {}),
  };
  const result = await run("git", hardenedGitArgs(args), { env, allowFailure: true, input: options.input });
  if (result.code !== 0) throw new OperationFailedError(`git failed while forking the worktree: ${result.stderr.trim().split("\n").pop() ?? `exit code ${result.code}`}`);
  return result.stdout;
}

/**
 * Makes `branch` at source.base, its worktree at `path`, and writes there every file in which
 * the source worktree differs from base. Returns the number of paths carried over.
 */
export async function forkWorktree(source: WorktreeSnapshotSource, branch: string, path: string, scratchParent: string): Promise<number> {
  const scratch = mkdtempSync(join(scratchParent, ".fork-git-"));
  try {
    const objects = join(source.commonDir, "objects");
    mkdirSync(join(scratch, "objects/info"), { recursive: true });
    writeFileSync(join(scratch, "objects/info/alternates"), `${objects}\n`);
    try {
      copyFileSync(join(source.adminDir, "index"), join(scratch, "index"));
    } catch {
      await scratchGit(scratch, ["--git-dir", source.commonDir, "read-tree", source.base], { index: true });
    }
    const sourceGit = ["--git-dir", source.commonDir, "--work-tree", source.worktree];
    await scratchGit(scratch, [...sourceGit, "add", "-A"], { index: true });
    const tree = (await scratchGit(scratch, [...sourceGit, "write-tree"], { index: true })).trim();
    await scratchGit(scratch, ["--git-dir", source.commonDir, "worktree", "add", "--quiet", "-b", branch, path, source.base], { index: false });
    const changed = await scratchGit(scratch, ["--git-dir", source.commonDir, "diff-tree", "-r", "--name-only", "-z", "--no-renames", source.base, tree], { index: false });
    const paths = changed.split("\0").filter(Boolean);
    // the fork's own index (base) stays: only its files change, so the changes show as the source's do
    if (paths.length > 0) await scratchGit(scratch, ["-C", path, "restore", `--source=${tree}`, "--worktree", "--pathspec-from-file=-", "--pathspec-file-nul"], { index: false, input: changed });
    return paths.length;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
