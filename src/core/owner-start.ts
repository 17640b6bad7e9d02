// Making sure an owner runs a sandbox, for every caller (wt, the cloud server): a live owner is
// reused, a stopping one is waited for, a dead one's leftovers are cleaned, and a fresh owner is
// started under the sandbox's lock, so concurrent callers end with exactly one owner.
import { prepareSandboxGit } from "./git-sync.js";
import { canPrepareImages, canPrepareSandboxes, type Backend, type Reporter } from "../backends/types.js";
import type { HeyoHome } from "../state/home.js";
import { withLock } from "../state/lock.js";
import { readOwner, type OwnerMode } from "../state/records.js";
import { sandboxStatus, waitForOwnerExit } from "../state/status.js";
import type { SandboxEntry } from "./catalog.js";
import { startOwner, type StartedOwner } from "./owner-launch.js";
import { STOP_WAIT_MS } from "../shared/owner-protocol.js";
import { cleanUpAfterDeadOwner } from "./stop.js";
import { readBubblewrapMachine } from "../backends/bubblewrap/machine.js";
import { traceStep } from "../shared/trace.js";

/** How long a sandbox may take from owner start to ready. */
function bootTimeoutMs(backend: Backend): number {
  return backend.features.virtualMachine ? 600_000 : 30_000;
}

/** Waiting for another heyvm call that is starting the same sandbox. */
const START_LOCK_WAIT_MS = 660_000;

/** Said once per start, where the user sees it: the limits this run of heyvm could not set (owner.log has them too). */
function reportUnsetLimits(entry: SandboxEntry, reporter: Reporter): void {
  const owner = entry.spec.backend === "bubblewrap" ? readOwner(entry.dir) : undefined;
  const notSet = owner ? readBubblewrapMachine(owner).limits?.notSet : undefined;
  if (notSet && notSet.length > 0) reporter.progress(`warning: limits NOT set for ${entry.spec.id}: ${notSet.join("; ")}`);
}

export type EnsuredOwner = { reused: true } | { reused: false; owner: StartedOwner };

export function ensureOwner(home: HeyoHome, entry: SandboxEntry, backend: Backend, mode: OwnerMode, reporter: Reporter): Promise<EnsuredOwner> {
  return withLock(home, `sandbox:${entry.spec.id}`, START_LOCK_WAIT_MS, async (): Promise<EnsuredOwner> => {
    traceStep("start: sandbox lock taken");
    const live = await sandboxStatus(entry.dir);
    traceStep(`start: status read (${live.status})`);
    if (live.status === "stopping" && live.owner) {
      // It is going away: wait for it, then start afresh (reusing it would hand out a dying sandbox).
      reporter.progress(`sandbox ${entry.spec.id} is stopping; waiting to start it again`);
      await waitForOwnerExit(live.owner, STOP_WAIT_MS);
    } else if (live.status !== "stopped") {
      return { reused: true };
    }
    for (const line of await cleanUpAfterDeadOwner(home, entry)) reporter.info(`cleaned up ${line}`);
    traceStep("start: leftovers of an earlier owner reaped");
    if (canPrepareImages(backend)) await backend.prepareImage(home, entry.spec.image, reporter);
    if (canPrepareSandboxes(backend)) await backend.prepareSandbox(home, entry.dir, entry.spec, reporter);
    traceStep("start: image and sandbox prepared");
    await prepareSandboxGit(home, entry.dir, entry.spec); // its own git store, synced with the host's branch
    traceStep("start: git store ready and synced");
    reporter.progress(`starting sandbox ${entry.spec.id} on ${backend.name}`);
    const owner = await startOwner(entry.dir, mode, bootTimeoutMs(backend));
    traceStep("start: ready");
    reportUnsetLimits(entry, reporter);
    return { reused: false, owner };
  });
}
