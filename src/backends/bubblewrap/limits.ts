// How a bubblewrap sandbox's limits (sandbox-limits.ts) are put in place for this run of heyvm.
// As root: a cgroup of its own (cgroups.ts) with pids, memory and CPU bounds, which bwrap joins
// before it starts and every exec or shell joins before it enters (the "entry step", recorded in
// owner.json and part of the exec recipe). Not as root, with no cgroup heyvm may write: the
// processes are bounded by RLIMIT_NPROC (it counts every process of the user, so the bound is
// the user's count at boot plus --pids), memory and CPU are not, and heyvm says so — unless a
// systemd user manager answers: then a slice of its own bounds them (systemd-run --user --scope).
// /tmp's size is a tmpfs option either way.
import { spawnSync } from "node:child_process";
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

/** The environment that reaches uid's systemd user manager. */
function userManagerEnv(uid: number): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR || `/run/user/${uid}` };
}

/**
 * Whether a systemd user manager runs for uid and answers (its private socket is there and
 * `systemctl --user` reaches it): the one that can delegate a cgroup to a regular user.
 */
export function systemdUserManager(uid: number): boolean {
  const env = userManagerEnv(uid);
  if (!existsSync(join(env.XDG_RUNTIME_DIR ?? "", "systemd", "private"))) return false;
  const systemctl = findSystemExecutable("systemctl");
  return systemctl !== undefined && spawnSync(systemctl, ["--user", "show", "--property=Version"], { env, stdio: "ignore", timeout: 10_000 }).status === 0;
}

/** The slice of the user manager that bounds a sandbox: every scope its boot, exec and sh run in. */
export function sandboxSlice(id: string): string {
  return `heyvm-${id}.slice`;
}

/**
 * Not root, with a systemd user manager: the sandbox's slice gets the bounds (set at runtime,
 * forgotten at the manager's restart), and its boot, exec and sh each run in a scope of that
 * slice (`systemd-run --user --scope --slice`), so together they share them. Undefined (with
 * why) when the manager refuses, e.g. a controller it was not delegated.
 */
function userSliceLimits(id: string, limits: SandboxLimits, uid: number): { entryStep: string[]; set: string[] } | { failed: string } {
  const systemctl = findSystemExecutable("systemctl");
  const systemdRun = findSystemExecutable("systemd-run");
  if (!systemctl || !systemdRun) return { failed: "systemctl or systemd-run is not installed" };
  const env = userManagerEnv(uid);
  const properties = [`MemoryMax=${limits.memoryMiB}M`, "MemorySwapMax=0", `CPUQuota=${limits.cpus * 100}%`, `TasksMax=${limits.pids}`];
  const result = spawnSync(systemctl, ["--user", "set-property", "--runtime", sandboxSlice(id), ...properties], { env, encoding: "utf8", timeout: 30_000 });
  if (result.status !== 0) return { failed: `systemctl --user set-property: ${(result.stderr || result.error?.message || "").trim()}` };
  return {
    entryStep: [systemdRun, "--user", "--scope", "--quiet", "--collect", `--slice=${sandboxSlice(id)}`, "--"],
    set: [`pids ${limits.pids}, memory ${limits.memoryMiB} MiB, cpus ${limits.cpus} (systemd user manager: slice ${sandboxSlice(id)})`],
  };
}

/** Puts the limits in place before the sandbox starts (its home image is mounted by now). */
export async function applyLimits(dir: SandboxDir, limits: SandboxLimits, user: HostUser): Promise<AppliedLimits> {
  let managerRefused: string | undefined;
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
  if (systemdUserManager(user.uid)) {
    const slice = userSliceLimits(dir.id, limits, user.uid);
    if ("entryStep" in slice) return { entryStep: slice.entryStep, set: [...slice.set, tmp], notSet: [`home ${limits.homeMiB} MiB (needs root to mount its image)`] };
    managerRefused = slice.failed;
  }
  const nproc = processesOf(user.uid) + limits.pids;
  return {
    entryStep: [tool("prlimit"), `--nproc=${nproc}:${nproc}`, "--"],
    set: [`processes: RLIMIT_NPROC ${nproc} (every process of uid ${user.uid} counts: ${nproc - limits.pids} now, plus --pids ${limits.pids})`, tmp],
    notSet: [
      `memory ${limits.memoryMiB} MiB and cpus ${limits.cpus} (heyvm runs as uid ${user.uid}, not root, and has no cgroup it may write: ${managerRefused !== undefined ? `the systemd user manager refused a bounded slice: ${managerRefused}` : "no systemd user manager runs here to delegate one"}; run heyvm as root for them)`,
      `home ${limits.homeMiB} MiB (needs root to mount its image)`,
    ],
  };
}

/** Removes the sandbox's cgroup and unmounts its home (root only: nobody else can have made them); what went. */
export async function releaseLimits(dir: SandboxDir): Promise<string[]> {
  const uid = process.getuid?.() ?? 0;
  if (uid !== 0) return systemdUserManager(uid) ? releaseUserSlice(dir.id, uid) : [];
  const released = (await removeSandboxCgroup(dir.id)).map((path) => `cgroup ${path}`);
  const { unmountHomeImage } = await import("./home-image.js");
  if (await unmountHomeImage(dir)) released.push(`the mount of ${dir.homePath}`);
  return released;
}

/** Ends what is left in the sandbox's slice and drops its runtime bounds (a regular user's manager). */
function releaseUserSlice(id: string, uid: number): string[] {
  const systemctl = findSystemExecutable("systemctl");
  if (!systemctl) return [];
  const env = userManagerEnv(uid);
  const stopped = spawnSync(systemctl, ["--user", "stop", sandboxSlice(id)], { env, stdio: "ignore", timeout: 30_000 }).status === 0;
  spawnSync(systemctl, ["--user", "revert", sandboxSlice(id)], { env, stdio: "ignore", timeout: 30_000 });
  return stopped ? [`slice ${sandboxSlice(id)}`] : [];
}
