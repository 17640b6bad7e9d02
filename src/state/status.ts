// The one answer to "is this sandbox running?" (as Lima's store.Inspect() and tart's
// VMDirectory.state() are for theirs). Status is derived, never trusted from a file: an owner
// counts only if its pid is alive, it is from this boot and its process start time matches (no
// pid reuse); the full answer also asks the owner itself over its control socket. Only a dead
// pid (or another boot, or another start time) is proof that a sandbox stopped: an owner whose
// socket does not answer in time (busy, or flooded with clients) reads as its owner.json says.
// Reading status never writes anything. Every command, the owner and the server read status
// through this module and nowhere else.
import { askOwner } from "../shared/owner-protocol.js";
import { ConflictError } from "../shared/errors.js";
import { isSameProcess } from "./liveness.js";
import { readExit, readOwner, type ExitRecord, type OwnerRecord, type SandboxEntry } from "./records.js";
import type { SandboxDir } from "./sandbox-dir.js";

export type SandboxStatus = "starting" | "running" | "stopping" | "stopped";

export interface SandboxState {
  status: SandboxStatus;
  /** The owner's record while it lives (its state as the owner last said it). */
  owner: OwnerRecord | undefined;
  /**
   * The owner's process lives but its socket did not answer in time: the sandbox reads as its
   * owner.json state (a slow owner is not a dead one), and `owner` is set too. Stop ends such an
   * owner with signals instead of asking it; nothing may reap it as an orphan.
   */
  silentOwner: OwnerRecord | undefined;
}

/** How long the full answer waits for an owner's word (the native launcher's list waits as long). */
export const STATUS_TIMEOUT_MS = 1500;

const STOPPED: SandboxState = { status: "stopped", owner: undefined, silentOwner: undefined };

function isOwnerProcess(owner: OwnerRecord): boolean {
  return isSameProcess(owner.pid, owner.pidStartTime, owner.bootId);
}

/**
 * Status from the records and /proc alone, without asking the owner: what the commands agents
 * call in loops (exec, list) use. The owner's own state line in owner.json stands for its word.
 */
export function processStatus(dir: SandboxDir): SandboxState {
  const owner = readOwner(dir);
  if (!owner || !isOwnerProcess(owner)) return STOPPED;
  return { status: owner.state, owner, silentOwner: undefined };
}

/** The owner.json a dead owner left behind (crash, kill -9, reboot), for clean-up. */
export function staleOwnerRecord(dir: SandboxDir): OwnerRecord | undefined {
  const owner = readOwner(dir);
  return owner && !isOwnerProcess(owner) ? owner : undefined;
}

/**
 * The full answer: the process checks, then the owner's own word over its control socket. A
 * live owner that does not answer within timeoutMs reads as its record says, marked silent.
 */
export async function sandboxStatus(dir: SandboxDir, timeoutMs = STATUS_TIMEOUT_MS): Promise<SandboxState> {
  const owner = readOwner(dir);
  if (!owner || !isOwnerProcess(owner)) return STOPPED;
  try {
    const answer = await askOwner(dir.socketPath, { op: "status" }, timeoutMs);
    if (answer.ok && "state" in answer && answer.pid === owner.pid) {
      return { status: answer.state, owner: { ...owner, state: answer.state }, silentOwner: undefined };
    }
  } catch {
    // no answer in time: handled below
  }
  // alive and from this boot: not stopped, whatever its socket says (or does not)
  return isOwnerProcess(owner) ? { status: owner.state, owner, silentOwner: owner } : STOPPED;
}

/** Why the sandbox's last owner ended, shown while it is stopped. */
export function lastExit(dir: SandboxDir): ExitRecord | undefined {
  return readExit(dir);
}

/** The one error for "this needs a running sandbox and it is not"; one exit code everywhere. */
export class NotRunningError extends ConflictError {
  constructor(entry: SandboxEntry, status: SandboxStatus) {
    const hint = entry.spec.git ? `start it with \`heyvm wt ${entry.spec.git.branch} --detach\`` : "start it again";
    super(`sandbox ${entry.spec.id} (${entry.spec.name}) is ${status}`, status === "stopped" ? hint : "try again in a moment");
    this.name = "NotRunningError";
  }
}

export interface RequireRunningOptions {
  /** Trust a live owner process whose owner.json says running, without the socket round trip. */
  fast?: boolean;
  /** While the sandbox is starting, wait up to this long for it to be running. */
  waitForStartMs?: number;
}

/** The running sandbox's owner record, or NotRunningError. */
export async function requireRunning(entry: SandboxEntry, options: RequireRunningOptions = {}): Promise<OwnerRecord> {
  if (options.fast) {
    const quick = processStatus(entry.dir);
    if (quick.status === "running" && quick.owner) return quick.owner;
  }
  const deadline = Date.now() + (options.waitForStartMs ?? 0);
  for (;;) {
    const state = await sandboxStatus(entry.dir);
    if (state.status === "running" && state.owner) return state.owner;
    if (state.status !== "starting" || Date.now() > deadline) throw new NotRunningError(entry, state.status);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits (up to ms) for this owner process to be gone; true if it is. */
export async function waitForOwnerExit(owner: OwnerRecord, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isOwnerProcess(owner)) return true;
    await new Promise((resolve) => setTimeout(resolve, 5)); // a /proc read: cheap enough to look often
  }
  return !isOwnerProcess(owner);
}
