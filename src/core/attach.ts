// Shell and exec into a running local sandbox: find it, check it is really alive, and hand the
// terminal to the backend's command (nsenter, ssh…).
import { loadBackend } from "../backends/registry.js";
import type { CommandOptions, MachineAccess } from "../backends/types.js";
import { OperationFailedError } from "../shared/errors.js";
import type { HeyoHome } from "../state/home.js";
import { isSameProcess, liveOwner } from "../state/liveness.js";
import { readOwner } from "../state/records.js";
import { resolveSandbox, type SandboxEntry } from "./catalog.js";
import { runInteractive } from "./interactive.js";

/**
 * exec's fast path: the owner process is alive (same pid, start time, boot) and said running.
 * It skips the socket round trip; the backend then checks the machine itself (init pid, SSH).
 */
function runningOwnerFast(entry: SandboxEntry): MachineAccess | undefined {
  const owner = readOwner(entry.dir);
  if (owner?.state !== "running" || !isSameProcess(owner.pid, owner.pidStartTime, owner.bootId)) return undefined;
  return { dir: entry.dir, spec: entry.spec, owner };
}

async function accessTo(entry: SandboxEntry, waitForStartMs = 0): Promise<MachineAccess> {
  const fast = runningOwnerFast(entry);
  if (fast) return fast;
  const deadline = Date.now() + waitForStartMs;
  for (;;) {
    const live = await liveOwner(entry.dir);
    if (live?.status === "running") return { dir: entry.dir, spec: entry.spec, owner: live.owner };
    if (live?.status !== "starting" || Date.now() > deadline) {
      const how = entry.spec.git ? `heyvm wt ${entry.spec.git.branch} --detach` : "start it again";
      throw new OperationFailedError(`sandbox ${entry.spec.id} (${entry.spec.name}) is ${live?.status ?? "stopped"}`, `start it with \`${how}\``);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function execInSandbox(home: HeyoHome, query: string, argv: readonly string[], options: CommandOptions): Promise<number> {
  return execInEntry(resolveSandbox(home, query), argv, options);
}

export async function execInEntry(entry: SandboxEntry, argv: readonly string[], options: CommandOptions): Promise<number> {
  const access = await accessTo(entry);
  const backend = await loadBackend(entry.spec.backend);
  return runInteractive(backend.execCommand(access, argv, options));
}

export async function shellInEntry(entry: SandboxEntry, options: CommandOptions, waitForStartMs = 0): Promise<number> {
  const access = await accessTo(entry, waitForStartMs);
  const backend = await loadBackend(entry.spec.backend);
  return runInteractive(backend.shellCommand(access, options));
}

export async function shellInSandbox(home: HeyoHome, query: string, options: CommandOptions): Promise<number> {
  return shellInEntry(resolveSandbox(home, query), options, 120_000);
}
