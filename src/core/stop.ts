// Stopping a local sandbox: ask its owner to shut the machine down, wait for the owner to go,
// and clean up anything a dead owner left behind. Stopping a stopped sandbox is not an error.
import { existsSync, rmSync } from "node:fs";
import { loadBackend } from "../backends/registry.js";
import { canReapOrphans } from "../backends/types.js";
import { STOP_WAIT_MS, askOwner } from "../shared/owner-protocol.js";
import type { HeyoHome } from "../state/home.js";
import { processStatus, sandboxStatus, staleOwnerRecord, waitForOwnerExit } from "../state/status.js";
import { ConflictError, TimeoutError } from "../shared/errors.js";
import { withLock } from "../state/lock.js";
import type { SandboxEntry } from "./catalog.js";
import { traceStep } from "../shared/trace.js";

export interface StopResult {
  id: string;
  name: string;
  wasRunning: boolean;
  cleaned: string[];
}

/** Removes a dead owner's leftovers: its records and whatever the backend left running. */
export async function cleanUpAfterDeadOwner(home: HeyoHome, entry: SandboxEntry): Promise<string[]> {
  const cleaned: string[] = [];
  const alive = processStatus(entry.dir).owner;
  if (alive) {
    // Alive but not answering its socket: its machine is not an orphan, so leave it alone.
    throw new ConflictError(`the owner of ${entry.spec.id} (pid ${alive.pid}) is running but does not answer`, `stop it with \`heyvm stop ${entry.spec.id}\` (it is ended by force if it stays silent)`);
  }
  const owner = staleOwnerRecord(entry.dir);
  if (owner) {
    rmSync(entry.dir.ownerPath, { force: true });
    rmSync(entry.dir.socketPath, { force: true });
    rmSync(entry.dir.liveMarker, { force: true });
    cleaned.push(`stale owner record of pid ${owner.pid}`);
  }
  if (!existsSync(entry.dir.logPath)) return cleaned; // never started (owner.log comes first): nothing can be left
  const backend = await loadBackend(entry.spec.backend);
  if (canReapOrphans(backend)) cleaned.push(...(await backend.reapOrphans(home, entry.dir, entry.spec)));
  return cleaned;
}

/** How long stop waits for a start in progress (it holds the sandbox's lock until ready). */
const START_IN_PROGRESS_WAIT_MS = 300_000;

/**
 * Stops a sandbox. A start in progress holds the sandbox's lock until its owner is ready (or has
 * failed): stop waits for it first, so it never misses an owner that is about to appear. An
 * owner that is still booting is told to stop at once, so that a long boot (a VM) is cut short
 * instead of waited for.
 */
export async function stopEntry(home: HeyoHome, entry: SandboxEntry): Promise<StopResult> {
  // owner.json says "starting" from the owner's first moment; only then is the socket asked now
  traceStep(`stop: sandbox ${entry.spec.id} resolved`);
  const booting = processStatus(entry.dir).status === "starting" ? await sandboxStatus(entry.dir) : undefined;
  const cutShort = booting?.status === "starting" && (await askOwner(entry.dir.socketPath, { op: "stop", reason: "heyvm stop" }).then(() => true, () => false));
  const stopUnderLock = async () => {
    const result = await stopNow(home, entry);
    return cutShort ? { ...result, wasRunning: true } : result;
  };
  try {
    return await withLock(home, `sandbox:${entry.spec.id}`, START_IN_PROGRESS_WAIT_MS, stopUnderLock);
  } catch (error) {
    if (error instanceof TimeoutError) return stopUnderLock(); // a start that hangs: stop anyway
    throw error;
  }
}

async function stopNow(home: HeyoHome, entry: SandboxEntry): Promise<StopResult> {
  const result: StopResult = { id: entry.spec.id, name: entry.spec.name, wasRunning: false, cleaned: [] };
  traceStep("stop: sandbox lock taken");
  const state = await sandboxStatus(entry.dir);
  traceStep(`stop: status read (${state.status})`);
  const silent = state.silentOwner;
  if (silent) {
    // alive but not answering its socket: SIGTERM is the same stop request, by signal
    process.kill(silent.pid, "SIGTERM");
    if (!(await waitForOwnerExit(silent, STOP_WAIT_MS))) process.kill(silent.pid, "SIGKILL");
    await waitForOwnerExit(silent, 5_000);
    result.wasRunning = true;
  } else if (state.owner) {
    result.wasRunning = true;
    await askOwner(entry.dir.socketPath, { op: "stop", reason: "heyvm stop" }).catch(() => undefined);
    traceStep("stop: owner asked to stop");
    if (!(await waitForOwnerExit(state.owner, STOP_WAIT_MS))) {
      process.kill(state.owner.pid, "SIGKILL"); // the machine is tied to the owner and goes with it
      await waitForOwnerExit(state.owner, 5_000);
    }
  }
  traceStep("stop: owner gone");
  result.cleaned = await cleanUpAfterDeadOwner(home, entry);
  traceStep("stop: leftovers checked");
  return result;
}
