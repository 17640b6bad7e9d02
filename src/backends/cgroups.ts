// A cgroup per sandbox, named after its id under a `heyvm` parent at the top of each hierarchy:
// cgroup v2 where the host has the controller there, else its v1 hierarchy (a host may mix both,
// as this one does: every controller on v1, an empty v2). Only root writes them. A process joins
// by writing its own pid into each cgroup.procs before it execs what it runs (joinStep), so
// everything the sandbox starts — bwrap, and every exec or shell that enters it — is counted.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { errorMessage, isErrnoError } from "../shared/errors.js";
import type { SandboxLimits } from "./sandbox-limits.js";

export type Controller = "pids" | "memory" | "cpu";

export const CONTROLLERS: readonly Controller[] = ["pids", "memory", "cpu"];

/** Where a controller is mounted, and which cgroup interface that mount speaks. */
export interface Hierarchy {
  version: 1 | 2;
  mount: string;
}

/** The parent of every sandbox's cgroup, in each hierarchy. */
export const CGROUP_PARENT = "heyvm";

const SANDBOX_ID = /^sb-[0-9a-f]{8}$/;

/** The controllers' hierarchies, from mountinfo (v1 mounts name theirs; v2 lists them in cgroup.controllers). */
export function cgroupHierarchies(mountinfo = readFileSync("/proc/self/mountinfo", "utf8"), readControllers = (mount: string) => readFileSync(join(mount, "cgroup.controllers"), "utf8")): Map<Controller, Hierarchy> {
  const found = new Map<Controller, Hierarchy>();
  let unified: string | undefined;
  for (const line of mountinfo.split("\n")) {
    const [before, after] = line.split(" - ");
    if (!before || !after) continue;
    const mount = before.split(" ")[4];
    const [fsType, , superOptions = ""] = after.split(" ");
    if (!mount) continue;
    if (fsType === "cgroup2") unified ??= mount;
    if (fsType !== "cgroup") continue;
    const options = superOptions.split(",");
    for (const controller of CONTROLLERS) if (options.includes(controller) && !found.has(controller)) found.set(controller, { version: 1, mount });
  }
  if (unified !== undefined) {
    let listed: string[] = [];
    try {
      listed = readControllers(unified).trim().split(/\s+/);
    } catch {
      // unreadable: as if it had none
    }
    for (const controller of CONTROLLERS) if (!found.has(controller) && listed.includes(controller)) found.set(controller, { version: 2, mount: unified });
  }
  return found;
}

/** The sandbox's cgroup folder in a hierarchy. */
export function sandboxCgroupDir(hierarchy: Hierarchy, id: string): string {
  if (!SANDBOX_ID.test(id)) throw new Error(`not a sandbox id: ${id}`);
  return join(hierarchy.mount, CGROUP_PARENT, id);
}

export interface SandboxCgroup {
  /** The cgroup.procs files a process of the sandbox writes its pid into (one per hierarchy). */
  procsFiles: string[];
  /** Limits that are set ("pids 1024"…), and the ones that could not be, with why. */
  set: string[];
  notSet: string[];
}

function write(file: string, value: string): void {
  writeFileSync(file, value);
}

/** v2: the parent must pass the controllers down (the root cgroup may have processes; heyvm/ has none). */
function enableV2(mount: string, controllers: Controller[]): void {
  for (const dir of [mount, join(mount, CGROUP_PARENT)]) {
    for (const controller of controllers) {
      try {
        write(join(dir, "cgroup.subtree_control"), `+${controller}`);
      } catch {
        // an unavailable controller is reported by the missing file below
      }
    }
  }
}

function setLimit(dir: string, hierarchy: Hierarchy, controller: Controller, limits: SandboxLimits): string {
  const bytes = String(limits.memoryMiB * 1024 * 1024);
  const period = 100_000;
  if (controller === "pids") {
    write(join(dir, "pids.max"), String(limits.pids));
    return `pids ${limits.pids}`;
  }
  if (controller === "memory") {
    if (hierarchy.version === 2) {
      write(join(dir, "memory.max"), bytes);
      if (existsSync(join(dir, "memory.swap.max"))) write(join(dir, "memory.swap.max"), "0");
    } else {
      write(join(dir, "memory.limit_in_bytes"), bytes);
      // memory + swap bounded to the same: no way around the limit through swap
      if (existsSync(join(dir, "memory.memsw.limit_in_bytes"))) write(join(dir, "memory.memsw.limit_in_bytes"), bytes);
    }
    return `memory ${limits.memoryMiB} MiB`;
  }
  const quota = String(limits.cpus * period);
  if (hierarchy.version === 2) write(join(dir, "cpu.max"), `${quota} ${period}`);
  else {
    write(join(dir, "cpu.cfs_period_us"), String(period));
    write(join(dir, "cpu.cfs_quota_us"), quota);
  }
  return `cpus ${limits.cpus}`;
}

/**
 * Makes the sandbox's cgroup in every hierarchy that has one of the controllers and sets its
 * limits (a leftover of an earlier run of the same sandbox is emptied and reused). Root only.
 */
export async function createSandboxCgroup(id: string, limits: SandboxLimits, hierarchies = cgroupHierarchies()): Promise<SandboxCgroup> {
  await removeSandboxCgroup(id, hierarchies);
  const result: SandboxCgroup = { procsFiles: [], set: [], notSet: [] };
  const v2 = CONTROLLERS.filter((controller) => hierarchies.get(controller)?.version === 2);
  const v2Mount = v2.length > 0 ? hierarchies.get(v2[0] as Controller)?.mount : undefined;
  if (v2Mount) {
    mkdirSync(join(v2Mount, CGROUP_PARENT), { recursive: true });
    enableV2(v2Mount, v2);
  }
  for (const controller of CONTROLLERS) {
    const hierarchy = hierarchies.get(controller);
    if (!hierarchy) {
      result.notSet.push(`${controller} (no ${controller} cgroup controller on this host)`);
      continue;
    }
    const dir = sandboxCgroupDir(hierarchy, id);
    try {
      mkdirSync(dir, { recursive: true });
      result.set.push(setLimit(dir, hierarchy, controller, limits));
      const procs = join(dir, "cgroup.procs");
      if (!result.procsFiles.includes(procs)) result.procsFiles.push(procs);
    } catch (error) {
      result.notSet.push(`${controller} (${errorMessage(error)})`);
    }
  }
  return result;
}

function members(dir: string): number[] {
  try {
    return readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Sets new memory and CPU bounds on a running sandbox's existing cgroups (heyvm resize); the
 * processes bound stays as it was. Returns what was set and what could not be, as create does.
 */
export function resizeSandboxCgroup(id: string, limits: SandboxLimits, hierarchies = cgroupHierarchies()): { set: string[]; notSet: string[] } {
  const result = { set: [] as string[], notSet: [] as string[] };
  for (const controller of ["memory", "cpu"] as const) {
    const hierarchy = hierarchies.get(controller);
    const dir = hierarchy ? sandboxCgroupDir(hierarchy, id) : undefined;
    if (!hierarchy || !dir || !existsSync(dir)) {
      result.notSet.push(`${controller} (the sandbox has no ${controller} cgroup now)`);
      continue;
    }
    try {
      // v1 keeps memory+swap >= memory: a raise writes memsw first, which setLimit writes after
      const memsw = join(dir, "memory.memsw.limit_in_bytes");
      if (controller === "memory" && hierarchy.version === 1 && existsSync(memsw)) {
        try {
          write(memsw, String(limits.memoryMiB * 1024 * 1024));
        } catch {
          // a lowering: memsw goes after the limit, in setLimit
        }
      }
      result.set.push(setLimit(dir, hierarchy, controller, limits));
    } catch (error) {
      result.notSet.push(`${controller} (${errorMessage(error)})`);
    }
  }
  return result;
}

/** The sandbox's cgroup folders that exist now. */
export function existingSandboxCgroups(id: string, hierarchies = cgroupHierarchies()): string[] {
  const dirs = new Set<string>();
  for (const hierarchy of hierarchies.values()) {
    const dir = sandboxCgroupDir(hierarchy, id);
    if (existsSync(dir)) dirs.add(dir);
  }
  return [...dirs];
}

/**
 * Ends whatever is still in the sandbox's cgroups (they hold only the sandbox's processes) and
 * removes them. Returns the folders removed.
 */
export async function removeSandboxCgroup(id: string, hierarchies = cgroupHierarchies()): Promise<string[]> {
  const removed: string[] = [];
  for (const dir of existingSandboxCgroups(id, hierarchies)) {
    const deadline = Date.now() + 5_000;
    for (;;) {
      for (const pid of members(dir)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone meanwhile
        }
      }
      try {
        for (const child of readdirSync(dir, { withFileTypes: true })) if (child.isDirectory()) rmdirSync(join(dir, child.name));
        rmdirSync(dir);
        removed.push(dir);
        break;
      } catch (error) {
        if (isErrnoError(error) && error.code === "ENOENT") break;
        // EBUSY: processes still exiting (their last reference goes a moment after the signal)
        if (Date.now() > deadline) throw new Error(`could not remove the cgroup ${dir}: ${errorMessage(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }
  return removed;
}

/**
 * The command that first moves itself into the sandbox's cgroups, then execs the command: a
 * /bin/sh script, pid unchanged, so nothing of the command runs outside them. Plain words: the
 * native launcher expands it like any other part of an exec recipe.
 */
export const JOIN_SCRIPT = 'while [ "$#" -gt 0 ] && [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';

export function joinWords(procsFiles: readonly string[]): string[] {
  return ["-c", JOIN_SCRIPT, "heyvm-cgroup", ...procsFiles, "--"];
}
