// Checkpoint and restore of a deployment (cold storage): a checkpoint stops its sandbox, keeps its
// disk and workspace, and gives back what it held on the host (the machine, its uid slot and the
// ACL entries it was granted); status `cold-stored`. Cold-stored deployments hold no place in the
// active quota (they run nothing) and are never removed by the sweep of stopped ones; their disk
// and workspace still count in the token's storage quota. Restore takes an active place again
// (429 when the quota is full) and starts the same sandbox under the same id.
import type { Deployment } from "../../cloud/schema.js";
import { releaseWorkspaceSandboxHost, startWorkspaceSandbox, stopWorkspaceSandbox } from "../../core/workspace-sandbox.js";
import { errorMessage } from "../../shared/errors.js";
import type { DeploymentServices } from "../context.js";
import { HttpError } from "../http/messages.js";
import { ownedDeployment } from "../ownership.js";
import { afterStart, operateOn } from "./lifecycle.js";
import { sandboxOf, settle, transition } from "./status.js";
import { deploymentView } from "./view.js";

export function checkpointDeployment(services: DeploymentServices, tokenId: string, id: string): Promise<Deployment> {
  return operateOn(services, tokenId, id, async (stored) => {
    const row = await settle(services, stored, "not running");
    if (row.status === "cold-stored") return deploymentView(services, row);
    const entry = sandboxOf(services, row);
    if (row.freed || !entry) throw new HttpError(409, `${id} cannot be checkpointed: its resources were freed (${row.error_message ?? row.status})`, "freed");
    if (row.status === "provisioning") throw new HttpError(409, `${id} is still provisioning; checkpoint it once it runs`, "provisioning");
    services.hooks.onStopped(id);
    await stopWorkspaceSandbox(services.data.home, entry);
    await releaseWorkspaceSandboxHost(entry);
    transition(services, row, "cold-stored", { stopped_at: new Date().toISOString(), error_message: null });
    return deploymentView(services, ownedDeployment(services.store, tokenId, id));
  });
}

export function restoreDeployment(services: DeploymentServices, tokenId: string, id: string): Promise<Deployment> {
  return operateOn(services, tokenId, id, async (row) => {
    if (row.status !== "cold-stored") throw new HttpError(409, `${id} is ${row.status}, not cold-stored; only a checkpointed sandbox is restored`, "not_cold_stored");
    const entry = sandboxOf(services, row);
    if (row.freed || !entry) throw new HttpError(409, `${id} cannot be restored: its resources were freed`, "freed");
    const release = services.quota.reserve(tokenId, `restore ${id}`);
    try {
      try {
        await startWorkspaceSandbox(services.data.home, entry, services.progress.reporter(id, services.log));
      } catch (error) {
        throw new HttpError(409, `${id} did not start: ${errorMessage(error).split("\n")[0]}`, "start_failed");
      }
      transition(services, row, "running", { started_at: new Date().toISOString(), error_message: null, stopped_at: null });
    } finally {
      release();
    }
    await afterStart(services, { ...row, status: "running" }, entry);
    return deploymentView(services, ownedDeployment(services.store, tokenId, id));
  });
}
