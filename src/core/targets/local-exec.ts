// exec in a local sandbox, on its own so the fast path loads no more than this: the request's
// timeout and session wrapped around argv, then the backend's command run with the caller's
// stdio, or captured.
import type { SandboxEntry } from "../../state/records.js";
import { execCommandFor } from "../attach.js";
import { runCaptured } from "../capture.js";
import { timedOut, wrapCommand } from "../exec-wrap.js";
import { runInteractive } from "../interactive.js";
import type { ExecRequest, ExecResult } from "./types.js";
import { traceStep } from "../../shared/trace.js";

/** The most exec --format json keeps of each stream. */
const CAPTURE_LIMIT_BYTES = 64 * 1024 * 1024;

export async function execLocal(entry: SandboxEntry, argv: readonly string[], request: ExecRequest): Promise<ExecResult> {
  traceStep(`exec: sandbox ${entry.spec.id} resolved`);
  const wrapped = wrapCommand(argv, request.env, request);
  const command = await execCommandFor(entry, wrapped.argv, { tty: false, cwd: request.cwd, env: wrapped.env });
  traceStep(`exec: running ${command.file}`);
  const started = performance.now();
  if (request.capture) {
    const run = await runCaptured(command, { stdin: "inherit", maxOutputBytes: CAPTURE_LIMIT_BYTES });
    return { exitCode: run.exitCode, stdout: run.stdout, stderr: run.stderr, timedOut: timedOut(run.exitCode, performance.now() - started, request.timeoutMs) };
  }
  const exitCode = await runInteractive(command);
  traceStep(`exec: command ended (${exitCode})`);
  return { exitCode, timedOut: timedOut(exitCode, performance.now() - started, request.timeoutMs) };
}
