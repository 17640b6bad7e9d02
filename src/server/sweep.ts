// What the server does on its own, at start and then every sweepMs: deployments whose TTL has
// passed are stopped and freed, rows that say running are checked against what really runs
// (and recorded as stopped when their sandbox is gone), and abandoned uploads are removed.
import { rmSync } from "node:fs";
import type { DeploymentState } from "../cloud/schema.js";
import { errorMessage } from "../shared/errors.js";
import type { DeploymentServices } from "./context.js";
import { settle, transition } from "./deployment-status.js";
import { freeDeployment } from "./lifecycle.js";

/** Stops and frees every deployment whose TTL has passed. */
export async function expireDeployments(services: DeploymentServices): Promise<void> {
  for (const row of services.store.expiredDeployments(new Date().toISOString())) {
    if (services.queue.busy(row.id)) continue; // busy (a VM still booting): the next sweep takes it
    await services.queue.run(row.id, async () => {
      const current = services.store.deployment(row.id);
      if (!current || current.freed || !current.expires_at || current.expires_at > new Date().toISOString()) return;
      await freeDeployment(services, current);
      const status: DeploymentState = current.status === "failed" ? "failed" : "stopped";
      transition(services, current, status, { freed: 1, stopped_at: current.stopped_at ?? new Date().toISOString(), error_message: `TTL of ${current.ttl_seconds} s expired` });
      if (current.status === status) services.log(`deployment ${current.id}: TTL expired, resources freed`);
    });
  }
}

/**
 * Checks the active rows against reality. After a restart ("server restarted") a deployment
 * that was still provisioning cannot finish, so it fails and is freed.
 */
export async function reconcileDeployments(services: DeploymentServices, context: string): Promise<void> {
  for (const row of services.store.activeDeployments()) {
    if (services.queue.busy(row.id)) continue;
    await services.queue.run(row.id, async () => {
      const current = services.store.deployment(row.id);
      if (!current) return;
      if (current.status === "provisioning" && context === "server restarted") {
        await freeDeployment(services, current);
        transition(services, current, "failed", { error_message: "the server restarted while it was provisioning", freed: 1, stopped_at: new Date().toISOString() });
        return;
      }
      await settle(services, current, context);
    });
  }
}

/** Removes archives presigned long enough ago that their upload URL has expired, never finalized. */
function dropAbandonedUploads(services: DeploymentServices): void {
  const before = new Date(Date.now() - (services.config.uploadUrlTtlSeconds + 60) * 1000).toISOString();
  for (const archive of services.store.stalePendingArchives(before)) {
    rmSync(services.data.archivePath(archive.id), { force: true });
    services.store.deleteArchive(archive.id);
    services.log(`archive ${archive.id}: upload abandoned, removed`);
  }
}

/** Sweeps every sweepMs (a sweep still running is not overlapped); returns the function that ends it. */
export function startSweeping(services: DeploymentServices): () => void {
  let sweeping = false;
  const timer = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    expireDeployments(services)
      .then(() => reconcileDeployments(services, "stopped on its own"))
      .then(() => dropAbandonedUploads(services))
      .catch((error: unknown) => services.log(`sweep failed: ${errorMessage(error)}`))
      .finally(() => (sweeping = false));
  }, services.config.sweepMs);
  return () => clearInterval(timer);
}
