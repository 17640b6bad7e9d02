// A deployment's status. It is recorded only by explicit transitions (transition(), which also
// logs the change); a read derives it (a row that says running whose sandbox is gone reads as
// stopped) without writing anything, and the sweep or the next operation records what it found.
// "Gone" means its owner's process is dead (state/status.ts): a busy or silent owner never is.
import { realpathSync } from "node:fs";
import { SANDBOX_WORKSPACE, type DeploymentState } from "../../cloud/schema.js";
import type { SandboxEntry } from "../../core/catalog.js";
import { isWorkspaceSandboxRunning, lastExitReason, openWorkspaceSandbox } from "../../core/workspace-sandbox.js";
import type { DeploymentServices } from "../context.js";
import { tenantLogText } from "./log-view.js";
import type { DeploymentRow } from "../store.js";

/** The sandbox a deployment runs in, once provisioning has made it. */
export function sandboxOf(services: DeploymentServices, row: DeploymentRow): SandboxEntry | undefined {
  return row.sandbox_id ? openWorkspaceSandbox(services.data.home, row.sandbox_id) : undefined;
}

/** This server's paths a deployment's messages and log may hold, each with what its tenant knows it as. */
export function tenantHostPaths(services: DeploymentServices, row: DeploymentRow): Array<[string, string]> {
  const entry = sandboxOf(services, row);
  const root = services.data.root;
  let real = root;
  try {
    real = realpathSync(root);
  } catch {
    // not there (any more): the path as configured is all there is
  }
  return [[services.data.workspacePath(row.id), SANDBOX_WORKSPACE], ...(entry ? [[entry.dir.root, "<sandbox>"] as [string, string]] : []), [root, "<server>"], [real, "<server>"]];
}

/** A message about a deployment as its tenant may read it: the server's paths hidden, as in its log (log-view.ts). */
export function tenantMessage(services: DeploymentServices, row: DeploymentRow, text: string): string {
  return tenantLogText(text, tenantHostPaths(services, row));
}

/** Records a new status (with the rest of the patch; error_message as the tenant may read it) and logs the change as it was. */
export function transition(services: DeploymentServices, row: DeploymentRow, status: DeploymentState, patch: Partial<DeploymentRow> = {}): void {
  const shown = patch.error_message ? { error_message: tenantMessage(services, row, patch.error_message) } : {};
  services.store.updateDeployment(row.id, { ...patch, ...shown, status });
  services.progress.clear(row.id);
  if (row.status !== status) {
    const why = patch.error_message ? ` (${patch.error_message})` : "";
    services.log(`deployment ${row.id}: ${row.status} -> ${status}${why}`);
  }
}

/** Why a row that says running has no running sandbox; undefined when it does (or says otherwise). */
async function vanished(services: DeploymentServices, row: DeploymentRow): Promise<string | undefined> {
  if (row.status !== "running") return undefined;
  const entry = sandboxOf(services, row);
  if (entry && isWorkspaceSandboxRunning(entry)) return undefined;
  return (entry && lastExitReason(entry)) ?? "its sandbox is gone";
}

/** The row as it is now, for a read: a vanished sandbox reads as stopped; nothing is recorded. */
export async function currentRow(services: DeploymentServices, row: DeploymentRow): Promise<DeploymentRow> {
  if (services.queue.busy(row.id)) return row; // an operation under way records the status itself
  const reason = await vanished(services, row);
  return reason === undefined ? row : { ...row, status: "stopped", error_message: tenantMessage(services, row, `not running: ${reason}`) };
}

/** Inside an operation on the deployment: records a vanished sandbox as stopped and ends its shells. */
export async function settle(services: DeploymentServices, row: DeploymentRow, context: string): Promise<DeploymentRow> {
  const reason = await vanished(services, row);
  if (reason === undefined) return row;
  services.hooks.onStopped(row.id);
  transition(services, row, "stopped", { stopped_at: new Date().toISOString(), error_message: `${context}: ${reason}` });
  return services.store.deployment(row.id) ?? row;
}
