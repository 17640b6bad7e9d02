// How a bubblewrap sandbox's limits (sandbox-limits.ts) are put in place for this run of heyvm.
// As root: a cgroup of its own (cgroups.ts) with pids, memory and CPU bounds, which bwrap joins
// before it starts and every exec or shell joins before it enters (the "entry step", recorded in
// owner.json and part of the exec recipe). Not as root, with no cgroup heyvm may write: the
// processes are bounded by RLIMIT_NPROC (it counts every process of the user, so the bound is
// the user's count at boot plus --pids), memory and CPU are not, and heyvm says so. /tmp's size
// is a tmpfs option either way.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { findSystemExecutable } from "../../shared/run.js";
import { UnavailableError, errorMessage } from "../../shared/errors.js";
import type { SandboxDir } from "../../state/sandbox-dir.js";
import { createSandboxCgroup, joinWords, removeSandboxCgroup } from "../cgroups.js";
import type { SandboxLimits } from "../sandbox-limits.js";
import type { HostUser } from "./host-user.js";

export interface AppliedLimits {
  /** Words that run before the command that enters the sandbox (and before bwrap): a program, its arguments, ending in "--". */
  entryStep: string[];
  /** What is bounded, and what is not (with why), for owner.log, wt's output and `get`. */
  set: string[];
  notSet: string[];
}

function tool(name: string): string {
  const path = findSystemExecutable(name);
  if (!path) throw new UnavailableError(`${name} is not installed (heyvm bounds its sandboxes with it)`, "install util-linux");
  return path;
}

/**
 * Processes whose real uid is uid. RLIMIT_NPROC counts threads too, but the threads there are at
 * boot are mostly this owner's (Node's), which become one when it hands over to the monitor.
 */
function processesOf(uid: number): number {
  let count = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${entry}/status`, "utf8"))?.[1] === String(uid)) count++;
    } catch {
      // ended meanwhile
    }
  }
  return count;
}

/** Whether a systemd user manager runs for uid (its private socket): the one that could delegate a cgroup. */
function systemdUserManager(uid: number): boolean {
  return existsSync(join(process.env.XDG_RUNTIME_DIR || `/run/user/${uid}`, "systemd", "private"));
}

/** Puts the limits in place before the sandbox starts (its home image is mounted by now). */
export async function applyLimits(dir: SandboxDir, limits: SandboxLimits, user: HostUser): Promise<AppliedLimits> {
  const tmp = `/tmp ${limits.tmpMiB} MiB`;
  if ((process.getuid?.() ?? 0) === 0) {
    const { mountHomeImage } = await import("./home-image.js"); // only starts and stops need it (not in the fast path)
    const home = await mountHomeImage(dir, limits.homeMiB, user).then(
      () => ({ set: [`home ${limits.homeMiB} MiB`], notSet: [] }),
      (error: unknown) => ({ set: [], notSet: [`home ${limits.homeMiB} MiB (its image could not be mounted: ${errorMessage(error)})`] }),
    );
    const cgroup = await createSandboxCgroup(dir.id, limits);
    const sh = tool("sh");
    return { entryStep: cgroup.procsFiles.length > 0 ? [sh, ...joinWords(cgroup.procsFiles)] : [], set: [...cgroup.set, tmp, ...home.set], notSet: [...cgroup.notSet, ...home.notSet] };
  }
  const nproc = processesOf(user.uid) + limits.pids;
  return {
    entryStep: [tool("prlimit"), `--nproc=${nproc}:${nproc}`, "--"],
    set: [`processes: RLIMIT_NPROC ${nproc} (every process of uid ${user.uid} counts: ${nproc - limits.pids} now, plus --pids ${limits.pids})`, tmp],
    notSet: [
      `memory ${limits.memoryMiB} MiB and cpus ${limits.cpus} (heyvm runs as uid ${user.uid}, not root, and has no cgroup it may write: ${systemdUserManager(user.uid) ? "a systemd user manager runs, but heyvm does not ask it for a delegated cgroup yet" : "no systemd user manager runs here to delegate one"}; run heyvm as root for them)`,
      `home ${limits.homeMiB} MiB (needs root to mount its image)`,
    ],
  };
}

/** Removes the sandbox's cgroup and unmounts its home (root only: nobody else can have made them); what went. */
export async function releaseLimits(dir: SandboxDir): Promise<string[]> {
  if ((process.getuid?.() ?? 0) !== 0) return [];
  const released = (await removeSandboxCgroup(dir.id)).map((path) => `cgroup ${path}`);
  const { unmountHomeImage } = await import("./home-image.js");
  if (await unmountHomeImage(dir)) released.push(`the mount of ${dir.homePath}`);
  return released;
}
