// Stopping a local sandbox: ask its owner to shut the machine down, wait for the owner to go,
// and clean up anything a dead owner left behind. Stopping a stopped sandbox is not an error.
import { rmSync } from "node:fs";
import { loadBackend } from "../backends/registry.js";
import { canReapOrphans } from "../backends/types.js";
import { askOwner } from "../shared/owner-protocol.js";
import type { HeyoHome } from "../state/home.js";
import { isSameProcess, liveOwner } from "../state/liveness.js";
import { readOwner } from "../state/records.js";
import { resolveSandbox, type SandboxEntry } from "./catalog.js";

/** How long stop waits for an owner to finish a graceful shutdown before ending it by force. */
const STOP_WAIT_MS = 20_000;

export interface StopResult {
  id: string;
  name: string;
  wasRunning: boolean;
  cleaned: string[];
}

async function waitForExit(pid: number, startTime: string | null, bootId: string | null, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isSameProcess(pid, startTime, bootId)) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return !isSameProcess(pid, startTime, bootId);
}

/** Removes a dead owner's leftovers: its records and whatever the backend left running. */
export async function cleanUpAfterDeadOwner(home: HeyoHome, entry: SandboxEntry): Promise<string[]> {
  const cleaned: string[] = [];
  const owner = readOwner(entry.dir);
  if (owner && !isSameProcess(owner.pid, owner.pidStartTime, owner.bootId)) {
    rmSync(entry.dir.ownerPath, { force: true });
    rmSync(entry.dir.socketPath, { force: true });
    rmSync(entry.dir.liveMarker, { force: true });
    cleaned.push(`stale owner record of pid ${owner.pid}`);
  }
  const backend = await loadBackend(entry.spec.backend);
  if (canReapOrphans(backend)) cleaned.push(...(await backend.reapOrphans(home, entry.dir, entry.spec)));
  return cleaned;
}

export async function stopEntry(home: HeyoHome, entry: SandboxEntry): Promise<StopResult> {
  const result: StopResult = { id: entry.spec.id, name: entry.spec.name, wasRunning: false, cleaned: [] };
  const live = await liveOwner(entry.dir);
  if (live) {
    result.wasRunning = true;
    const { pid, pidStartTime, bootId } = live.owner;
    await askOwner(entry.dir.socketPath, { op: "stop", reason: "heyvm stop" }).catch(() => undefined);
    if (!(await waitForExit(pid, pidStartTime, bootId, STOP_WAIT_MS))) {
      process.kill(pid, "SIGKILL"); // the machine is tied to the owner and goes with it
      await waitForExit(pid, pidStartTime, bootId, 5_000);
    }
  }
  result.cleaned = await cleanUpAfterDeadOwner(home, entry);
  return result;
}

export function stopSandbox(home: HeyoHome, query: string): Promise<StopResult> {
  return stopEntry(home, resolveSandbox(home, query));
}
