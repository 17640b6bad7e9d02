// What the server does on its own, at start and then every sweepMs: what revoked tokens left
// running is stopped, deployments whose TTL has passed are stopped and freed, deployments stopped
// longer than keepStoppedSeconds are freed (their workspace removed: storage.ts), rows that say
// running are checked against what really runs (and recorded as stopped only when their
// owner's process is gone), and abandoned uploads are removed with their .part files.
import { rmSync } from "node:fs";
import type { DeploymentState } from "../../cloud/schema.js";
import { errorMessage } from "../../shared/errors.js";
import type { DeploymentServices } from "../context.js";
import { settle, transition } from "./status.js";
import { freeDeployment, stopForRevokedToken } from "./lifecycle.js";
import { removeUploadParts } from "../archives/uploads.js";

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

/** Frees deployments stopped for longer than keepStoppedSeconds: their workspace and sandbox go, their record stays. */
export async function freeLongStopped(services: DeploymentServices): Promise<void> {
  const keep = services.config.keepStoppedSeconds;
  for (const row of services.store.longStoppedDeployments(new Date(Date.now() - keep * 1000).toISOString())) {
    if (services.queue.busy(row.id)) continue;
    await services.queue.run(row.id, async () => {
      const current = services.store.deployment(row.id);
      if (!current || current.freed || (current.status !== "stopped" && current.status !== "failed")) return;
      await freeDeployment(services, current);
      services.store.updateDeployment(current.id, { freed: 1, error_message: `stopped for more than ${keep} s: its workspace was removed (deploy again to run it)` });
      services.log(`deployment ${current.id}: stopped for more than ${keep} s, workspace removed`);
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
    removeUploadParts(services.data, archive.id);
    services.store.deleteArchive(archive.id);
    services.log(`archive ${archive.id}: upload abandoned, removed`);
  }
}

/**
 * What a revoked token leaves behind ends: its shells at once, its sandboxes are stopped, and
 * the archives it never finished uploading are removed (their URLs are refused already).
 */
export async function endRevokedTokens(services: DeploymentServices): Promise<void> {
  for (const tokenId of services.store.revokedTokenIds()) services.hooks.onRevoked(tokenId);
  for (const archive of services.store.pendingArchivesOfRevokedTokens()) {
    rmSync(services.data.archivePath(archive.id), { force: true });
    removeUploadParts(services.data, archive.id);
    services.store.deleteArchive(archive.id);
    services.log(`archive ${archive.id}: its token was revoked, removed`);
  }
  for (const row of services.store.activeDeploymentsOfRevokedTokens()) {
    if (services.queue.busy(row.id)) continue; // the next sweep takes it once the operation under way is done
    await stopForRevokedToken(services, row.id);
  }
}

/** Sweeps every sweepMs (a sweep still running is not overlapped); returns the function that ends it. */
export function startSweeping(services: DeploymentServices): () => void {
  let sweeping = false;
  const timer = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    endRevokedTokens(services)
      .then(() => expireDeployments(services))
      .then(() => freeLongStopped(services))
      .then(() => reconcileDeployments(services, "stopped on its own"))
      .then(() => dropAbandonedUploads(services))
      .catch((error: unknown) => services.log(`sweep failed: ${errorMessage(error)}`))
      .finally(() => (sweeping = false));
  }, services.config.sweepMs);
  return () => clearInterval(timer);
}
