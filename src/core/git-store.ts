// A sandbox's own git store (sandboxes/<id>/git): the sandbox's git works there and never in
// the host's git folder, which it does not see except its objects, read-only. The store has
// its own objects (the host's as a read-only alternate), HEAD, refs (a copy of the host's
// branches and tags), index and config. `/workspace/.git` inside is heyvm's own file naming the
// store, bound read-only over the worktree's. Commits cross only through core/git-sync.ts.
import { closeSync, constants, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { runGit } from "../git/safe-git.js";
import type { Repository } from "../git/repo.js";
import { UserError } from "../shared/errors.js";
import type { ExtraMount, SandboxSpec } from "../state/records.js";
import type { SandboxDir } from "../state/sandbox-dir.js";

/** Where the store is inside a sandbox whose worktree is a linked one. */
export const GIT_STORE_IN_SANDBOX = "/heyvm/git";
/** The folder in the store where the host's objects are bound read-only (its alternates name it). */
export const HOST_OBJECTS_NAME = "host-objects";


/** The worktree's own `.git`: a folder for the main worktree (the common folder), else a file. */
function isMainWorktree(commonDir: string, worktree: string): boolean {
  return join(worktree, ".git") === commonDir;
}

/** Where the sandbox sees its store: over /workspace/.git for the main worktree, else /heyvm/git. */
function storeInSandbox(commonDir: string, worktree: string): string {
  return isMainWorktree(commonDir, worktree) ? "/workspace/.git" : GIT_STORE_IN_SANDBOX;
}

/** The sandbox's view of git: its store read-write, the host's objects read-only, and heyvm's `.git` file. */
export function gitStoreMounts(dir: SandboxDir, repo: Repository, worktree: string): ExtraMount[] {
  const inside = storeInSandbox(repo.commonDir, worktree);
  const mounts: ExtraMount[] = [
    { host: dir.gitStorePath, guest: inside, readOnly: false },
    { host: join(repo.commonDir, "objects"), guest: `${inside}/${HOST_OBJECTS_NAME}`, readOnly: true },
  ];
  if (!isMainWorktree(repo.commonDir, worktree)) mounts.push({ host: dir.gitLinkPath, guest: "/workspace/.git", readOnly: true });
  return mounts;
}

/** True when this sandbox's git works on its own store (made by gitStoreMounts). */
export function usesGitStore(dir: SandboxDir, spec: SandboxSpec): spec is SandboxSpec & { git: NonNullable<SandboxSpec["git"]> } {
  return spec.git !== null && spec.mounts.some((mount) => mount.host === dir.gitStorePath);
}

/** The host's git folder of the worktree (its HEAD and index): the common folder, or its worktrees/<name>, read from a `.git` file git wrote (checked before the first start). */
export function hostAdminDir(spec: SandboxSpec & { git: NonNullable<SandboxSpec["git"]> }): string {
  const { commonDir } = spec.git;
  if (isMainWorktree(commonDir, spec.workspace)) return commonDir;
  const entry = join(spec.workspace, ".git");
  const text = readGitFile(entry);
  const match = /^gitdir: (.+)\n?$/.exec(text ?? "");
  const admin = match?.[1];
  if (!admin || !admin.startsWith(`${commonDir}/worktrees/`) || admin.slice(commonDir.length + "/worktrees/".length).includes("/") || !existsSync(join(admin, "HEAD"))) {
    throw new UserError(`the worktree's .git file (${entry}) does not point to a worktree of ${commonDir}`, {
      hint: `repair it with \`git -C ${commonDir} worktree repair ${spec.workspace}\` and start the sandbox again`,
    });
  }
  return admin;
}

/** A regular file's text, never through a link (the worktree is the sandbox's to write). */
function readGitFile(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    return readFileSync(fd, "utf8").slice(0, 4096);
  } finally {
    closeSync(fd);
  }
}

/** The identity of the worktree's `.git` entry: a new one means the host replaced it (and the read-only bind over it is gone). */
export function gitEntryIdentity(worktree: string): string | null {
  try {
    const stat = lstatSync(join(worktree, ".git"));
    return `${stat.dev}:${stat.ino}`;
  } catch {
    return null;
  }
}

/** True when the worktree's `.git` is still what git wrote: the common folder itself, or a file naming the admin folder. */
export function gitEntryIntact(spec: SandboxSpec & { git: NonNullable<SandboxSpec["git"]> }, adminDir: string): boolean {
  if (isMainWorktree(spec.git.commonDir, spec.workspace)) return lstatSync(adminDir, { throwIfNoEntry: false })?.isDirectory() === true;
  return readGitFile(join(spec.workspace, ".git")) === `gitdir: ${adminDir}\n`;
}

/** Puts back the worktree's `.git` file as git wrote it, as a new file (the old name is unlinked, never followed). */
export function repairGitFile(worktree: string, adminDir: string): void {
  const entry = join(worktree, ".git");
  if (lstatSync(entry, { throwIfNoEntry: false })?.isDirectory()) return; // the main worktree's: the host's own folder
  if (readGitFile(entry) === `gitdir: ${adminDir}\n`) return;
  rmSync(entry, { recursive: true, force: true });
  const fd = openSync(entry, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    writeSync(fd, `gitdir: ${adminDir}\n`);
  } finally {
    closeSync(fd);
  }
}

/** The host's branches and tags as packed-refs lines. */
async function hostRefLines(commonDir: string): Promise<string> {
  const out = await runGit(["--git-dir", commonDir, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads", "refs/tags"]);
  return out.stdout;
}

/**
 * Makes the store when the sandbox has none (first start, or removed): written whole in a new
 * folder and renamed into place, so nothing of it was ever the sandbox's before heyvm wrote it.
 * Later changes to it are made by git in the confinement (git-confined.ts), never by heyvm here.
 */
export async function ensureGitStore(dir: SandboxDir, spec: SandboxSpec & { git: NonNullable<SandboxSpec["git"]> }, adminDir: string): Promise<void> {
  writeFileSync(dir.gitLinkPath, `gitdir: ${GIT_STORE_IN_SANDBOX}\n`, { mode: 0o644 });
  const store = dir.gitStorePath;
  if (existsSync(store)) {
    // the mount point of the host's objects: the sandbox cannot touch it while it runs (a mount
    // point), and a store it changed while stopped gets a plain folder back
    const point = join(store, HOST_OBJECTS_NAME);
    const stat = lstatSync(point, { throwIfNoEntry: false });
    if (!stat?.isDirectory()) {
      rmSync(point, { force: true });
      mkdirSync(point);
    }
    return;
  }
  const { commonDir, branch } = spec.git;
  const fresh = mkdtempSync(join(dir.root, ".git-new-"));
  for (const sub of ["objects/info", "objects/pack", "refs/heads", "refs/tags", "info", HOST_OBJECTS_NAME]) mkdirSync(join(fresh, sub), { recursive: true });
  writeFileSync(join(fresh, "HEAD"), `ref: refs/heads/${branch}\n`);
  writeFileSync(join(fresh, "config"), "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n");
  writeFileSync(join(fresh, "objects/info/alternates"), `../${HOST_OBJECTS_NAME}\n`);
  writeFileSync(join(fresh, "packed-refs"), await hostRefLines(commonDir));
  const tip = (await runGit(["--git-dir", commonDir, "rev-parse", "--verify", "-q", `refs/heads/${branch}^{commit}`], { allowFailure: true })).stdout.trim();
  if (tip) {
    mkdirSync(join(fresh, "refs/heads", branch, ".."), { recursive: true });
    writeFileSync(join(fresh, "refs/heads", branch), `${tip}\n`); // loose: the owner watches this file
  }
  for (const [from, to] of [[join(adminDir, "index"), "index"], [join(commonDir, "info", "exclude"), "info/exclude"]] as const) {
    try {
      writeFileSync(join(fresh, to), readFileSync(from)); // the host's files, which the sandbox never wrote: data only
    } catch {
      // none yet
    }
  }
  renameSync(fresh, store);
}
