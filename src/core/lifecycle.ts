// `heyvm start`, `restart`, `rm` and `prune`: a sandbox's life beyond `wt` — booted again from
// its record (same id, same worktree, same disk), or removed with its record and disk. The
// worktree is the user's: it goes only when asked, and git's own rule keeps uncommitted work.
import { existsSync, rmSync } from "node:fs";
import { usableBackend } from "../backends/registry.js";
import type { Reporter } from "../backends/types.js";
import { git } from "../git/repo.js";
import { ConflictError, errorMessage } from "../shared/errors.js";
import { endRelays, restoreBinds } from "./port-binds.js";
import type { HeyoHome } from "../state/home.js";
import { sandboxStatus } from "../state/status.js";
import { allSandboxes, resolveSandbox, viewOf, type SandboxEntry } from "./catalog.js";
import { ensureOwner } from "./owner-start.js";
import { sandboxInfo, type SandboxInfo } from "./sandbox-info.js";
import { stopEntry } from "./stop.js";
import { releaseSandboxHost } from "../backends/sandbox-release.js";
import { worktreeGitArgs } from "./git-sync.js";

/** Boots a stopped sandbox again from its record and returns once it is ready. */
export async function startEntry(home: HeyoHome, entry: SandboxEntry, reporter: Reporter): Promise<SandboxInfo> {
  const { status } = await sandboxStatus(entry.dir);
  if (status !== "stopped") throw new ConflictError(`sandbox ${entry.spec.id} (${entry.spec.name}) is already ${status}`, `stop it first (heyvm stop ${entry.spec.id}), or use \`heyvm restart ${entry.spec.id}\``);
  if (!existsSync(entry.spec.workspace)) {
    throw new ConflictError(`the workspace of ${entry.spec.id} (${entry.spec.workspace}) no longer exists`, `remove the sandbox with \`heyvm rm ${entry.spec.id} -y\`, or make the folder again`);
  }
  await ensureOwner(home, entry, await usableBackend(entry.spec.backend), "detached", reporter);
  // the ports `heyvm bind` exposed get their relays again; a start does not fail for one
  await restoreBinds(home, entry).catch((error: unknown) => reporter.info(`the bound ports of ${entry.spec.id} are not relayed: ${errorMessage(error)}`));
  return await sandboxInfo(await viewOf(entry));
}

export function startSandbox(home: HeyoHome, query: string, reporter: Reporter): Promise<SandboxInfo> {
  return startEntry(home, resolveSandbox(home, query), reporter);
}

export async function restartSandbox(home: HeyoHome, query: string, reporter: Reporter): Promise<SandboxInfo> {
  const entry = resolveSandbox(home, query);
  await stopEntry(home, entry);
  return startEntry(home, entry, reporter);
}

export interface RemoveOptions {
  /** Remove the branch's worktree too (git worktree remove). */
  worktree: boolean;
  /** With worktree: even with uncommitted changes (git's --force). */
  force: boolean;
}

export interface RemoveResult {
  id: string;
  name: string;
  wasRunning: boolean;
  /** The worktree folder removed with it, if asked. */
  removedWorktree: string | null;
}

/** Refuses, before anything is stopped or removed, a worktree git would not remove. */
async function checkWorktreeRemovable(entry: SandboxEntry, force: boolean): Promise<void> {
  if (!entry.spec.git) throw new ConflictError(`sandbox ${entry.spec.id} has no worktree of its own (it was not made by \`heyvm wt\`)`, "leave out --worktree");
  if (force || !existsSync(entry.spec.workspace)) return;
  const changes = await git(entry.spec.workspace, [...worktreeGitArgs(entry.dir, entry.spec), "status", "--porcelain", "--untracked-files=normal"]);
  if (changes.trim() !== "") {
    throw new ConflictError(`the worktree ${entry.spec.workspace} has uncommitted changes`, "commit or stash them, or add --force to remove them with the worktree");
  }
}

export async function removeEntry(home: HeyoHome, entry: SandboxEntry, options: RemoveOptions): Promise<RemoveResult> {
  if (options.worktree) await checkWorktreeRemovable(entry, options.force);
  const stopped = await stopEntry(home, entry);
  let removedWorktree: string | null = null;
  if (options.worktree && entry.spec.git && existsSync(entry.spec.workspace)) {
    // run from the common git folder: the worktree's own folder is what goes
    await git(entry.spec.git.commonDir, ["worktree", "remove", ...(options.force ? ["--force"] : []), entry.spec.workspace]);
    removedWorktree = entry.spec.workspace;
  }
  await releaseSandboxHost(entry.dir, entry.spec);
  await endRelays(entry); // none may still write its record while the folder goes
  rmSync(entry.dir.root, { recursive: true, force: true });
  rmSync(entry.dir.liveMarker, { force: true });
  return { id: entry.spec.id, name: entry.spec.name, wasRunning: stopped.wasRunning, removedWorktree };
}

/** Removes every stopped sandbox whose worktree (workspace folder) no longer exists. */
export async function pruneSandboxes(home: HeyoHome): Promise<RemoveResult[]> {
  const removed: RemoveResult[] = [];
  for (const entry of allSandboxes(home)) {
    if (existsSync(entry.spec.workspace)) continue;
    if ((await sandboxStatus(entry.dir)).status !== "stopped") continue;
    removed.push(await removeEntry(home, entry, { worktree: false, force: false }));
  }
  return removed;
}
