// What a sandbox may take of the host: processes, memory (its /tmp included), CPU, and the disk
// it writes outside the worktree. One rule for the defaults, read by the bubblewrap backend (which
// sets them with cgroups, tmpfs sizes and a home image) and shown by `get`.
import { cpus, totalmem } from "node:os";
import type { SandboxSpec } from "../state/records.js";

export interface SandboxLimits {
  /** Processes (and threads) at once. */
  pids: number;
  /** Memory in MiB, /tmp's pages included. */
  memoryMiB: number;
  /** CPU time, in whole cores' worth. */
  cpus: number;
  /** /tmp's size in MiB: a tmpfs whose pages count against memoryMiB. */
  tmpMiB: number;
  /** The home folder's size in MiB (a file system image of that size). */
  homeMiB: number;
}

/** The bounds heyvm accepts for --pids (a sandbox needs a few processes of its own to start). */
export const PIDS_LIMITS = { min: 16, max: 4_194_304 } as const;

export const DEFAULT_PIDS = 1024;
/** Memory: 4 GiB, or half the host's memory where that is less. */
export const DEFAULT_MEMORY_MIB = 4096;
export const DEFAULT_HOME_MIB = 4096;

/** The home image's size: $HEYVM_HOME_MIB (at least 16), else 4 GiB. */
function homeMiB(): number {
  const asked = Number(process.env.HEYVM_HOME_MIB);
  return Number.isInteger(asked) && asked >= 16 ? asked : DEFAULT_HOME_MIB;
}

/** The host's memory and cores, as the defaults are derived from them. */
export interface HostSize {
  memoryMiB: number;
  cores: number;
}

export function hostSize(): HostSize {
  return { memoryMiB: Math.floor(totalmem() / 1024 / 1024), cores: cpus().length };
}

/**
 * The limits of a sandbox: what --pids/--memory/--cpus asked for (sandbox.json), else the
 * defaults — 1024 processes, 4 GiB (at most half the host's memory), every core but one (at
 * least one), /tmp half the memory, a 4 GiB home ($HEYVM_HOME_MIB).
 */
export function sandboxLimits(spec: Pick<SandboxSpec, "pids" | "cpus" | "memoryMiB">, host: HostSize = hostSize()): SandboxLimits {
  const memoryMiB = spec.memoryMiB ?? Math.max(256, Math.min(DEFAULT_MEMORY_MIB, Math.floor(host.memoryMiB / 2)));
  return {
    pids: spec.pids ?? DEFAULT_PIDS,
    memoryMiB,
    cpus: spec.cpus ?? Math.max(1, host.cores - 1),
    tmpMiB: Math.max(16, Math.floor(memoryMiB / 2)),
    homeMiB: homeMiB(),
  };
}

/** One line for logs and `get`: "pids 1024, memory 4096 MiB (/tmp 2048 MiB), cpus 1, home 4096 MiB". */
export function describeLimits(limits: SandboxLimits): string {
  return `pids ${limits.pids}, memory ${limits.memoryMiB} MiB (/tmp ${limits.tmpMiB} MiB of it), cpus ${limits.cpus}, home ${limits.homeMiB} MiB`;
}
