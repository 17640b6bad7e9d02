// The life of a deployed sandbox: created and provisioned (workspace unpacked, sandbox made,
// owner started), running, stopped and started again, failed, freed (its machine, records and
// workspace deleted; it cannot start again) and deleted. Each operation runs in the deployment's
// queue, so operations on one deployment never overlap.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { isActiveDeployment, type Deployment, type DeployRequestParsed } from "../../cloud/schema.js";
import type { SandboxEntry } from "../../core/catalog.js";
import { createWorkspaceSandbox, destroyWorkspaceSandbox, launchInWorkspaceSandbox, startWorkspaceSandbox, stopWorkspaceSandbox } from "../../core/workspace-sandbox.js";
import { isBackendName } from "../../shared/backend-name.js";
import { errorMessage } from "../../shared/errors.js";
import type { Reporter } from "../../shared/reporter.js";
import type { DeploymentServices } from "../context.js";
import { sandboxOf, settle, transition } from "./status.js";
import { deploymentView } from "./view.js";
import { ArchiveRejectedError, extractArchive, extractLimitsOf } from "../archives/extract.js";
import { HttpError } from "../http/messages.js";
import { resolvePublishedImage } from "../registry/routes.js";
import { ownedDeployment, readyArchive } from "../ownership.js";
import { addEndpoint } from "./port-proxy.js";
import { checkStorage } from "./storage.js";
import { envVars, openPorts, type DeploymentRow } from "../store.js";

function startReporter(services: DeploymentServices, id: string): Reporter {
  return services.progress.reporter(id, services.log);
}

/** Records a new deployment (provisioning) and provisions it in the background. */
export async function createDeployment(services: DeploymentServices, tokenId: string, request: DeployRequestParsed): Promise<DeploymentRow> {
  const published = await resolvePublishedImage(services, tokenId, request.driver ?? "libvirt", request.image);
  const resolved = published ?? (await services.catalog.resolve(request.driver ?? "libvirt", request.image));
  if (request.archive_id) readyArchive(services.store, tokenId, request.archive_id);
  services.quota.check(tokenId, "deploy another"); // the row inserted below takes the place
  await checkStorage(services, tokenId, "deploy again");
  const id = `dep-${randomBytes(4).toString("hex")}`;
  const now = new Date();
  const row: DeploymentRow = {
    id,
    token_id: tokenId,
    name: request.name ?? id,
    status: "provisioning",
    driver: resolved.backend,
    image: request.image,
    region: request.region,
    size_class: request.size_class,
    ttl_seconds: request.ttl_seconds ?? null,
    open_ports: JSON.stringify(request.open_ports),
    archive_id: request.archive_id ?? null,
    start_command: request.start_command ?? null,
    working_directory: request.working_directory ?? "/workspace",
    env_vars: JSON.stringify(request.env_vars ?? {}),
    sandbox_id: null,
    error_message: null,
    created_at: now.toISOString(),
    started_at: null,
    stopped_at: null,
    expires_at: request.ttl_seconds ? new Date(now.getTime() + request.ttl_seconds * 1000).toISOString() : null,
    freed: 0,
    deleted: 0,
  };
  services.store.insertDeployment(row);
  if (published) services.images.recordUse({ deployment_id: id, image_id: published.published.imageId, requested_driver: published.published.requestedDriver, effective_driver: published.backend });
  services.log(`deployment ${id}: created (provisioning) on ${resolved.backend}, image ${request.image}${resolved.image ? ` -> ${resolved.image}` : ""}`);
  void services.queue.run(id, () => provision(services, id, resolved.image));
  return row;
}

/**
 * Unpacks the archive and boots the sandbox at the same time: nothing runs in the sandbox but
 * its init until the row says running (exec, shells and ports answer 409 before), and the start
 * command waits for both. A refused archive or a failed boot frees everything.
 */
async function provision(services: DeploymentServices, id: string, backendImage: string | null): Promise<void> {
  const row = services.store.deployment(id);
  if (!row || row.status !== "provisioning") return;
  const workspace = services.data.workspacePath(id);
  try {
    mkdirSync(workspace, { recursive: true });
    const unpacking = (async () => {
      if (!row.archive_id) return;
      const began = performance.now();
      await extractArchive(services.data.archivePath(row.archive_id), workspace, extractLimitsOf(services.config));
      services.log(`deployment ${id}: unpacked ${row.archive_id} into its workspace in ${Math.round(performance.now() - began)} ms`);
    })();
    const booting = (async () => {
      if (!isBackendName(row.driver)) throw new Error(`unknown driver ${row.driver}`);
      const made = await createWorkspaceSandbox(services.data.home, { name: id, backend: row.driver, image: backendImage, workspace, network: true, ports: openPorts(row) });
      services.store.updateDeployment(id, { sandbox_id: made.spec.id });
      await startWorkspaceSandbox(services.data.home, made, startReporter(services, id));
      return made;
    })();
    const [unpacked, booted] = await Promise.allSettled([unpacking, booting]);
    if (unpacked.status === "rejected") throw unpacked.reason;
    if (booted.status === "rejected") throw booted.reason;
    const entry = booted.value;
    transition(services, row, "running", { started_at: new Date().toISOString(), error_message: null });
    await afterStart(services, { ...row, status: "running", sandbox_id: entry.spec.id }, entry);
  } catch (error) {
    const message = error instanceof ArchiveRejectedError ? `archive refused: ${error.message}` : errorMessage(error).split("\n")[0] ?? "start failed";
    await freeDeployment(services, { ...row, sandbox_id: services.store.deployment(id)?.sandbox_id ?? null });
    transition(services, row, "failed", { error_message: message, stopped_at: new Date().toISOString(), freed: 1 });
  }
}

/** Exposes the requested ports and launches the start command, if any. */
export async function afterStart(services: DeploymentServices, row: DeploymentRow, entry: SandboxEntry): Promise<void> {
  if (services.store.endpointsOf(row.id).length === 0) {
    for (const port of openPorts(row)) addEndpoint(services, row, port, true);
  }
  if (row.start_command) {
    await launchInWorkspaceSandbox(entry, ["sh", "-c", row.start_command], { cwd: row.working_directory, env: envVars(row) });
  }
}

/** Deletes the sandbox's machine, records and workspace (after which it cannot start again). */
export async function freeDeployment(services: DeploymentServices, row: DeploymentRow): Promise<void> {
  services.hooks.onStopped(row.id);
  services.progress.clear(row.id);
  const entry = sandboxOf(services, row);
  if (entry) await destroyWorkspaceSandbox(services.data.home, entry);
  // a tenant's workspace can be gigabytes in many files: removed off the event loop
  await rm(services.data.workspacePath(row.id), { recursive: true, force: true });
  services.store.deleteEndpointsOf(row.id);
}

/** Runs fn in the deployment's queue with its current row, once the token is known to own it. */
export function operateOn<T>(services: DeploymentServices, tokenId: string, id: string, fn: (row: DeploymentRow) => Promise<T>): Promise<T> {
  ownedDeployment(services.store, tokenId, id);
  return services.queue.run(id, () => fn(ownedDeployment(services.store, tokenId, id)));
}

/** Inside an operation on the deployment: stops its sandbox and records it stopped (with why, if not asked by its token). */
async function stopRow(services: DeploymentServices, row: DeploymentRow, why: string | null): Promise<void> {
  services.hooks.onStopped(row.id);
  const entry = sandboxOf(services, row);
  if (entry) await stopWorkspaceSandbox(services.data.home, entry);
  if (isActiveDeployment(row.status)) transition(services, row, "stopped", { stopped_at: new Date().toISOString(), error_message: why });
}

export function stopDeployment(services: DeploymentServices, tokenId: string, id: string): Promise<Deployment> {
  return operateOn(services, tokenId, id, async (row) => {
    await stopRow(services, row, null);
    return deploymentView(services, ownedDeployment(services.store, tokenId, id));
  });
}

/** Stops a deployment whose token was revoked (the sweep's job: that token can no longer ask). */
export function stopForRevokedToken(services: DeploymentServices, id: string): Promise<void> {
  return services.queue.run(id, async () => {
    const row = services.store.deployment(id);
    if (row && isActiveDeployment(row.status)) await stopRow(services, row, "its API token was revoked");
  });
}

export function startDeployment(services: DeploymentServices, tokenId: string, id: string): Promise<Deployment> {
  return operateOn(services, tokenId, id, async (stored) => {
    const row = await settle(services, stored, "not running");
    if (row.status === "running") return deploymentView(services, row);
    const entry = sandboxOf(services, row);
    if (row.freed || !entry || !existsSync(services.data.workspacePath(id))) {
      throw new HttpError(409, `${id} cannot start again: its resources were freed (${row.error_message ?? row.status}); deploy a new one`, "freed");
    }
    const release = services.quota.reserve(tokenId, `start ${id}`);
    try {
      try {
        await startWorkspaceSandbox(services.data.home, entry, startReporter(services, id));
      } catch (error) {
        throw new HttpError(409, `${id} did not start: ${errorMessage(error).split("\n")[0]}`, "start_failed");
      }
      transition(services, row, "running", { started_at: new Date().toISOString(), error_message: null, stopped_at: null });
    } finally {
      release(); // the row says running now (and counts itself), or the start failed
    }
    await afterStart(services, { ...row, status: "running" }, entry);
    return deploymentView(services, ownedDeployment(services.store, tokenId, id));
  });
}

export function removeDeployment(services: DeploymentServices, tokenId: string, id: string): Promise<void> {
  return operateOn(services, tokenId, id, async (row) => {
    await freeDeployment(services, row);
    // a deleted row says what it is: nothing of it runs
    const ended = isActiveDeployment(row.status) ? { status: "stopped" as const, stopped_at: new Date().toISOString() } : {};
    services.store.updateDeployment(id, { deleted: 1, freed: 1, ...ended });
    services.log(`deployment ${id}: ${row.status} -> deleted`);
  });
}

export function setDeploymentTtl(services: DeploymentServices, tokenId: string, id: string, ttlSeconds: number): Promise<Deployment> {
  return operateOn(services, tokenId, id, async (row) => {
    if (row.freed) throw new HttpError(409, `${id} has already been freed`, "freed");
    services.store.updateDeployment(id, { ttl_seconds: ttlSeconds, expires_at: new Date(Date.now() + ttlSeconds * 1000).toISOString() });
    return deploymentView(services, ownedDeployment(services.store, tokenId, id));
  });
}
