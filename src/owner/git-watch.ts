// When a sandbox with its own git store runs `heyvm __git_sync <id>`: whenever the branch moves in
// the store or in the host's repository (or the worktree's .git entry changes), and every
// GIT_SYNC_INTERVAL_MS in any case. The native monitor does it with inotify (native/monitor/
// git-sync.c); an owner that stays in Node (HEYVM_OWNER_MONITOR=0) does the same here.
import { spawn } from "node:child_process";
import { existsSync, watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";
import { heyvmBin } from "../shared/heyvm-bin.js";
import type { SandboxSpec } from "../state/records.js";
import type { SandboxDir } from "../state/sandbox-dir.js";

/** The fallback: a folder that did not exist yet cannot be watched. */
export const GIT_SYNC_INTERVAL_MS = 30_000;
/** Events within this long are one change (a commit writes several files). */
const GATHER_MS = 30;

export interface GitSyncTrigger {
  watch: string[];
  command: string[];
  intervalMs: number;
}

/** What to watch and what to run, for a sandbox whose git works on its own store; else undefined. */
export function gitSyncTrigger(dir: SandboxDir, spec: SandboxSpec): GitSyncTrigger | undefined {
  if (!spec.git || !spec.mounts.some((mount) => mount.host === dir.gitStorePath) || !existsSync(dir.gitStorePath)) return undefined;
  const { commonDir, branch } = spec.git;
  return {
    // the host's other branches and tags too (`*`: any name there), so `git log main` inside follows main
    watch: [
      `${dir.gitStorePath}/refs/heads/${branch}`,
      `${dir.gitStorePath}/packed-refs`,
      `${commonDir}/refs/heads/${branch}`,
      `${commonDir}/refs/heads/*`,
      `${commonDir}/refs/tags/*`,
      `${commonDir}/packed-refs`,
      `${spec.workspace}/.git`,
    ],
    command: [process.execPath, heyvmBin(), "__git_sync", spec.id],
    intervalMs: GIT_SYNC_INTERVAL_MS,
  };
}

/** Runs the sync once (resolves when it has ended). */
export function runGitSyncOnce(trigger: GitSyncTrigger, logFd: number | "ignore"): Promise<void> {
  const [file, ...args] = trigger.command;
  if (!file) return Promise.resolve();
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ["ignore", logFd, logFd] });
    child.on("close", () => resolve());
    child.on("error", () => resolve());
  });
}

/** The Node owner's trigger: fs.watch on each file's folder, one run at a time; returns its stop. */
export function watchGitSync(trigger: GitSyncTrigger, logFd: number | "ignore"): () => void {
  let running = false;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  const watchers: FSWatcher[] = [];
  const runNow = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    do {
      again = false;
      await runGitSyncOnce(trigger, logFd);
    } while (again);
    running = false;
  };
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(() => void runNow(), GATHER_MS);
  };
  for (const path of trigger.watch) {
    try {
      const name = basename(path);
      watchers.push(watch(dirname(path), (_event, changed) => {
        if (changed === null || name === "*" || changed.toString() === name) soon();
      }));
    } catch {
      // not there yet: the periodic run covers it
    }
  }
  const periodic = setInterval(() => void runNow(), trigger.intervalMs);
  periodic.unref();
  return () => {
    clearInterval(periodic);
    clearTimeout(timer);
    for (const watcher of watchers) watcher.close();
  };
}
