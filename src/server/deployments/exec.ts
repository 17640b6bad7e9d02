// Reaching into a running deployment: the running sandbox itself (for exec, the shell stream and
// the port proxy), a command's output (captured up to execOutputBytes per stream, or streamed as
// NDJSON with backpressure), and the sandbox's log read by offset.
import type { ServerResponse } from "node:http";
import type { ExecResponse, ExecStreamFrame, LogsResponse } from "../../cloud/schema.js";
import { isActiveDeployment } from "../../cloud/schema.js";
import type { SandboxEntry } from "../../core/catalog.js";
import { captureInWorkspaceSandbox, streamInWorkspaceSandbox } from "../../core/workspace-sandbox.js";
import { renderLogText } from "../../shared/log-lines.js";
import { lastLines, readBytesFrom, wholeLinesEnd } from "../../shared/file-tail.js";
import { decodeUntrusted } from "../../shared/terminal-text.js";
import type { DeploymentServices } from "../context.js";
import { currentRow, sandboxOf, tenantHostPaths } from "./status.js";
import { HttpError } from "../http/messages.js";
import { tenantLogText } from "./log-view.js";
import { ownedDeployment } from "../ownership.js";
import { envVars, type DeploymentRow } from "../store.js";

/** How much of the log one read returns. */
const LOG_CHUNK_BYTES = 4 * 1024 * 1024;

/** A token's deployment and its sandbox, which runs now (409 when it does not). */
export async function runningSandbox(services: DeploymentServices, tokenId: string, id: string): Promise<{ row: DeploymentRow; entry: SandboxEntry }> {
  const row = await currentRow(services, ownedDeployment(services.store, tokenId, id));
  const entry = sandboxOf(services, row);
  if (row.status !== "running" || !entry) throw new HttpError(409, `${id} is ${row.status}${row.error_message ? ` (${row.error_message})` : ""}`, "not_running");
  return { row, entry };
}

export interface ExecOptions {
  cwd?: string;
  env?: Record<string, string>;
  timeoutSeconds: number;
  signal: AbortSignal;
}

export async function execInDeployment(services: DeploymentServices, tokenId: string, id: string, command: string, options: ExecOptions): Promise<ExecResponse> {
  const { row, entry } = await runningSandbox(services, tokenId, id);
  const result = await captureInWorkspaceSandbox(entry, ["sh", "-c", command], {
    cwd: options.cwd ?? row.working_directory,
    env: { ...envVars(row), ...options.env },
    maxOutputBytes: services.config.execOutputBytes,
    signal: options.signal,
    timeoutSeconds: options.timeoutSeconds,
  });
  const note = result.timedOut ? `[heyvm: the command was ended after timeout_seconds=${options.timeoutSeconds}]\n` : "";
  return {
    stdout: result.stdout,
    stderr: result.stderr + note,
    output: result.output + note,
    exit_code: result.timedOut ? 124 : result.exitCode,
    timed_out: result.timedOut,
    stdout_truncated: result.stdoutTruncated,
    stderr_truncated: result.stderrTruncated,
  };
}

/** Runs the command and answers with its output as it comes (one ExecStreamFrame per line), read only as fast as the client takes it. */
export async function streamExecInDeployment(services: DeploymentServices, tokenId: string, id: string, command: string, options: ExecOptions & { res: ServerResponse }): Promise<void> {
  const { row, entry } = await runningSandbox(services, tokenId, id);
  const { res } = options;
  const frame = (value: ExecStreamFrame) => `${JSON.stringify(value)}\n`;
  res.writeHead(200, { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-store" });
  const result = await streamInWorkspaceSandbox(entry, ["sh", "-c", command], {
    cwd: options.cwd ?? row.working_directory,
    env: { ...envVars(row), ...options.env },
    signal: options.signal,
    timeoutSeconds: options.timeoutSeconds,
    sink: {
      write: (stream, chunk) => res.write(frame({ type: "output", stream, data: chunk.toString("base64") })),
      onDrain: (resume) => res.once("drain", resume),
    },
  });
  res.end(frame({ type: "exit", exit_code: result.timedOut ? 124 : result.exitCode, timed_out: result.timedOut }));
}

/**
 * The sandbox's log from offset (or its last `lines` lines when reading from the start), as the
 * tenant may see it (log-view.ts): whole lines only while it runs, so no line is redacted in halves.
 */
export function deploymentLogs(services: DeploymentServices, tokenId: string, id: string, offset: number, lines: number): LogsResponse {
  const row = ownedDeployment(services.store, tokenId, id);
  const entry = sandboxOf(services, row);
  const running = isActiveDeployment(row.status);
  const hostPaths = tenantHostPaths(services, row);
  if (!entry) return { text: offset === 0 && row.error_message ? tenantLogText(`${row.error_message}\n`, hostPaths) : "", offset, running };
  const chunk = readBytesFrom(entry.dir.logPath, offset, LOG_CHUNK_BYTES);
  if (!chunk) return { text: "", offset, running };
  const end = wholeLinesEnd(chunk.bytes, !running && chunk.end - offset < LOG_CHUNK_BYTES);
  const whole = decodeUntrusted(chunk.bytes.subarray(0, end));
  const text = renderLogText(tenantLogText(offset === 0 && lines > 0 ? lastLines(whole, lines) : whole, hostPaths));
  // the cut-off partial line is read again next time
  return { text, offset: chunk.end - (chunk.bytes.length - end), running };
}
