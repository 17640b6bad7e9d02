// Reaching into a running deployment: the running sandbox itself (for exec, the shell stream and
// the port proxy), a command's captured output, and the sandbox's log read by offset.
import type { ExecResponse, LogsResponse } from "../cloud/schema.js";
import { isActiveDeployment } from "../cloud/schema.js";
import type { SandboxEntry } from "../core/catalog.js";
import { captureInWorkspaceSandbox } from "../core/workspace-sandbox.js";
import { lastLines, readFrom } from "../shared/file-tail.js";
import type { DeploymentServices } from "./context.js";
import { currentRow, sandboxOf } from "./deployment-status.js";
import { HttpError } from "./http.js";
import { ownedDeployment } from "./ownership.js";
import { envVars, type DeploymentRow } from "./store.js";

/** A token's deployment and its sandbox, which runs now (409 when it does not). */
export async function runningSandbox(services: DeploymentServices, tokenId: string, id: string): Promise<{ row: DeploymentRow; entry: SandboxEntry }> {
  const row = await currentRow(services, ownedDeployment(services.store, tokenId, id));
  const entry = sandboxOf(services, row);
  if (row.status !== "running" || !entry) throw new HttpError(409, `${id} is ${row.status}${row.error_message ? ` (${row.error_message})` : ""}`, "not_running");
  return { row, entry };
}

export async function execInDeployment(
  services: DeploymentServices,
  tokenId: string,
  id: string,
  command: string,
  options: { cwd?: string; env?: Record<string, string>; signal: AbortSignal },
): Promise<ExecResponse> {
  const { row, entry } = await runningSandbox(services, tokenId, id);
  const result = await captureInWorkspaceSandbox(entry, ["sh", "-c", command], {
    cwd: options.cwd ?? row.working_directory,
    env: { ...envVars(row), ...options.env },
    maxOutputBytes: 16 * 1024 * 1024,
    signal: options.signal,
  });
  return { stdout: result.stdout, stderr: result.stderr, output: result.output, exit_code: result.exitCode };
}

/** The sandbox's log from offset (or its last `lines` lines when reading from the start). */
export function deploymentLogs(services: DeploymentServices, tokenId: string, id: string, offset: number, lines: number): LogsResponse {
  const row = ownedDeployment(services.store, tokenId, id);
  const entry = sandboxOf(services, row);
  const running = isActiveDeployment(row.status);
  if (!entry) return { text: offset === 0 && row.error_message ? `${row.error_message}\n` : "", offset, running };
  const chunk = readFrom(entry.dir.logPath, offset, 4 * 1024 * 1024);
  if (!chunk) return { text: "", offset, running };
  const text = offset === 0 && lines > 0 ? lastLines(chunk.text, lines) : chunk.text;
  return { text, offset: chunk.end, running };
}
