// POST /deployed-sandboxes/:id/fork: a new deployment that starts as a copy of this one — its
// workspace copied (reflink where the file system allows), its sandbox forked by core/fork.ts
// (home and disk copy-on-write where the backend's format allows), running when the source runs
// (its ports exposed and its start command run, as after any start), stopped otherwise. It takes
// an active place when it runs (429 when the quota is full) and storage like any deployment.
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import type { Deployment, ForkRequest } from "../../cloud/schema.js";
import { forkSandbox } from "../../core/fork.js";
import { openWorkspaceSandbox } from "../../core/workspace-sandbox.js";
import { errorMessage } from "../../shared/errors.js";
import { run } from "../../shared/run.js";
import type { DeploymentServices } from "../context.js";
import { HttpError } from "../http/messages.js";
import { ownedDeployment } from "../ownership.js";
import type { DeploymentRow } from "../store.js";
import { afterStart, operateOn } from "./lifecycle.js";
import { sandboxOf, settle, tenantMessage } from "./status.js";
import { checkStorage } from "./storage.js";
import { deploymentView } from "./view.js";

export function forkDeployment(services: DeploymentServices, tokenId: string, id: string, request: ForkRequest): Promise<Deployment> {
  return operateOn(services, tokenId, id, async (stored) => {
    const row = await settle(services, stored, "not running");
    const source = sandboxOf(services, row);
    if (row.freed || !source) throw new HttpError(409, `${id} cannot be forked: its resources were freed (${row.error_message ?? row.status})`, "freed");
    if (row.status === "provisioning") throw new HttpError(409, `${id} is still provisioning; fork it once it runs`, "provisioning");
    const running = row.status === "running";
    await checkStorage(services, tokenId, `fork ${id}`);
    const release = running ? services.quota.reserve(tokenId, `fork ${id}`) : () => undefined;
    const forkId = `dep-${randomBytes(4).toString("hex")}`;
    const workspace = services.data.workspacePath(forkId);
    try {
      mkdirSync(dirname(workspace), { recursive: true });
      await run("cp", ["-a", "--no-dereference", "--reflink=auto", "--", services.data.workspacePath(id), workspace]);
      let made;
      try {
        made = await forkSandbox(services.data.home, { query: source.spec.id, name: forkId, workspace, start: running }, services.progress.reporter(forkId, services.log));
      } catch (error) {
        throw new HttpError(409, `${id} could not be forked: ${tenantMessage(services, row, errorMessage(error).split("\n")[0] ?? "")}`, "fork_failed");
      }
      const now = new Date();
      const forkRow: DeploymentRow = {
        ...row,
        id: forkId,
        name: request.name ?? forkId,
        status: running ? "running" : "stopped",
        sandbox_id: made.id,
        error_message: null,
        created_at: now.toISOString(),
        started_at: running ? now.toISOString() : null,
        stopped_at: running ? null : now.toISOString(),
        expires_at: row.ttl_seconds ? new Date(now.getTime() + row.ttl_seconds * 1000).toISOString() : null,
        freed: 0,
        deleted: 0,
      };
      services.store.insertDeployment(forkRow);
      services.log(`deployment ${forkId}: forked from ${id} (${forkRow.status})`);
      const entry = openWorkspaceSandbox(services.data.home, made.id);
      if (running && entry) await afterStart(services, forkRow, entry);
      return deploymentView(services, ownedDeployment(services.store, tokenId, forkId));
    } catch (error) {
      if (!services.store.deployment(forkId)) rmSync(workspace, { recursive: true, force: true });
      throw error;
    } finally {
      release();
    }
  });
}
