// `heyvm __sandbox_stop <id>`: what the native owner monitor runs on a stop request. It marks the
// owner stopping in owner.json and runs the backend's graceful shutdown (SIGTERM to the sandbox's
// processes, ACPI power-off…), logging to owner.log. Ending the machine by force after that is the
// monitor's part: it kills its child. With ended (`--ended`, after a machine that ended on its
// own) it only runs the backend's clean-up of what the machine left on the host.
import { loadBackend } from "../backends/registry.js";
import { canStopGracefully } from "../backends/types.js";
import { heyoHome } from "../state/home.js";
import { readOwner, readSpec, writeOwner } from "../state/records.js";
import { SandboxDir } from "../state/sandbox-dir.js";
import { STOP_GRACE_MS } from "../shared/owner-protocol.js";
import { OwnerLog } from "./log.js";
import { listenToTrace, traceStep, tracing } from "../shared/trace.js";

/** Whether the graceful part ran; when not, the monitor ends the machine by force (the command's exit code says so). */
export type StopCommandOutcome = "graceful" | "not-graceful";

export async function runStopCommand(id: string, ended = false): Promise<StopCommandOutcome> {
  const dir = new SandboxDir(heyoHome(), id);
  const log = new OwnerLog(dir.logPath);
  if (tracing()) listenToTrace((event) => log.line("owner", `trace ${(event.at - performance.timeOrigin).toFixed(1)} ms: ${event.step}`));
  const spec = readSpec(dir);
  const owner = readOwner(dir);
  if (!spec || !owner) {
    log.line("owner", "stop: sandbox.json or owner.json is missing; the machine is ended by force");
    return "not-graceful";
  }
  const backend = await loadBackend(spec.backend);
  traceStep(`__sandbox_stop: ${spec.backend} backend loaded`);
  if (ended) {
    if (canStopGracefully(backend) && backend.cleanUpAfterEnd) await backend.cleanUpAfterEnd({ dir, spec, owner }, log.reporter());
    return "graceful";
  }
  writeOwner(dir, { ...owner, state: "stopping" });
  if (!canStopGracefully(backend)) {
    log.line("owner", `stop: ${spec.backend} has no graceful shutdown; the machine is ended by force`);
    return "not-graceful";
  }
  const reporter = log.reporter();
  await backend.shutDownGracefully({ dir, spec, owner }, STOP_GRACE_MS, reporter);
  traceStep("__sandbox_stop: graceful shutdown done");
  return "graceful";
}
