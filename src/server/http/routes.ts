// The route table of the cloud API (ARCHITECTURE.md §5), each handler a few lines over the services.
import { createReadStream, rmSync, statSync } from "node:fs";
import { randomBytes } from "node:crypto";
import {
  API,
  DeployRequest,
  ExecRequest,
  FinalizeRequest,
  PresignRequest,
  ProxyRequest,
  ReplaceMountRequest,
  ResizeRequest,
  TtlRequest,
  ForkRequest,
  type ArchiveRecord,
} from "../../cloud/schema.js";
import { serverCapabilities } from "../capabilities.js";
import type { DeploymentServices } from "../context.js";
import { deploymentView, deploymentViews } from "../deployments/view.js";
import { ArchiveRejectedError, checkArchive, extractLimitsOf } from "../archives/extract.js";
import { HttpError, Router, readJson, type RequestContext } from "./messages.js";
import { addImageRoutes } from "../registry/routes.js";
import { createDeployment, removeDeployment, setDeploymentTtl, startDeployment, stopDeployment } from "../deployments/lifecycle.js";
import { ownedArchive, ownedDeployment, readyArchive } from "../ownership.js";
import { resizeDeployment } from "../deployments/resize.js";
import { requestEndpoint } from "../deployments/port-proxy.js";
import type { ConcurrencyCap } from "../deployments/limits.js";
import { deploymentLogs, execInDeployment, runningSandbox, streamExecInDeployment } from "../deployments/exec.js";
import { checkUploadSignature, signUpload } from "../archives/signing.js";
import type { ArchiveRow } from "../store.js";
import { receiveUpload, type UploadGuard } from "../archives/uploads.js";
import { checkStorage, storageUsage } from "../deployments/storage.js";
import { replaceWorkspace } from "../deployments/workspace-replace.js";
import { checkpointDeployment, restoreDeployment } from "../deployments/cold-store.js";
import { forkDeployment } from "../deployments/fork.js";
import { ReadFileRequest, WriteFileRequest } from "../../cloud/sandbox-routes-schema.js";
import { readDeploymentFile, writeDeploymentFile } from "../deployments/files.js";
import { SHELL_SESSION_PARAM, signShellSession } from "../deployments/shell-session.js";

export interface RouteServices extends DeploymentServices {
  secret: Buffer;
  uploads: UploadGuard;
  /** The address clients reach this server at. */
  publicUrl(): string;
  /** Concurrent execs (deployments/limits.ts). */
  execCap: ConcurrencyCap;
}

function archiveJson(row: ArchiveRow): ArchiveRecord {
  return { id: row.id, size_bytes: row.size_bytes, created_at: row.created_at, name: row.name, sandbox_id: row.sandbox_id };
}

function param(context: RequestContext, name: string): string {
  return context.params[name] ?? "";
}

export function buildRoutes(services: RouteServices): Router {
  const { store, data } = services;
  const router = new Router();

  router.add("POST", API.presign, async (context) => {
    const body = await readJson(context.req, PresignRequest);
    if (body.size_bytes !== undefined && body.size_bytes > services.config.maxUploadBytes) {
      throw new HttpError(413, `the archive is ${body.size_bytes} bytes; this server takes at most ${services.config.maxUploadBytes}`, "too_large");
    }
    await checkStorage(services, context.tokenId, "upload another archive", body.size_bytes ?? 0);
    const id = `arc-${randomBytes(6).toString("hex")}`;
    const expires = Math.floor(Date.now() / 1000) + services.config.uploadUrlTtlSeconds;
    store.insertArchive({ id, token_id: context.tokenId, status: "pending", size_bytes: 0, name: body.name ?? null, sandbox_id: null, created_at: new Date().toISOString() });
    const uploadUrl = `${services.publicUrl()}${API.upload(id)}?${signUpload(services.secret, id, expires)}`;
    return { status: 200, json: { archive_id: id, upload_url: uploadUrl, expires_at: new Date(expires * 1000).toISOString() } };
  });

  router.add("PUT", "/sandbox-archives/:id/upload", async (context) => {
    const id = param(context, "id");
    const check = checkUploadSignature(services.secret, id, context.url.searchParams);
    if (!check.ok) throw new HttpError(403, check.reason, "bad_signature");
    const size = await receiveUpload(services, id, context.req);
    return { status: 200, json: { id, size_bytes: size } };
  }, { auth: false });

  router.add("POST", "/sandbox-archives/:id/finalize", async (context) => {
    const body = await readJson(context.req, FinalizeRequest);
    const row = ownedArchive(store, context.tokenId, param(context, "id"));
    if (row.status === "ready") return { status: 200, json: archiveJson(row) };
    // from here until it is ready (or refused) the archive takes no upload: what is checked is what is kept
    const end = services.uploads.beginFinalize(row.id);
    try {
      const file = data.archivePath(row.id);
      let size: number;
      try {
        size = statSync(file).size;
      } catch {
        throw new HttpError(409, `nothing was uploaded to archive ${row.id} yet`, "not_uploaded");
      }
      try {
        await checkArchive(file, extractLimitsOf(services.config));
      } catch (error) {
        if (!(error instanceof ArchiveRejectedError)) throw error;
        rmSync(file, { force: true });
        store.deleteArchive(row.id);
        throw new HttpError(422, `archive refused: ${error.message}`, "archive_rejected");
      }
      if (!store.archive(row.id)) throw new HttpError(404, `archive ${row.id} was removed while it was checked`, "not_found");
      store.updateArchive(row.id, { status: "ready", size_bytes: size, sandbox_id: body.sandbox_id, name: body.name ?? row.name });
      return { status: 200, json: archiveJson({ ...row, status: "ready", size_bytes: size, sandbox_id: body.sandbox_id, name: body.name ?? row.name }) };
    } finally {
      end();
    }
  });

  router.add("GET", API.archives, (context) => ({ status: 200, json: store.archivesOf(context.tokenId).map(archiveJson) }));

  router.add("DELETE", "/sandbox-archives/:id", (context) => {
    const row = ownedArchive(store, context.tokenId, param(context, "id"));
    rmSync(data.archivePath(row.id), { force: true });
    store.deleteArchive(row.id);
    return { status: 200, json: { id: row.id, deleted: true } };
  });

  // the archive as uploaded (heyvm update of a local sandbox unpacks it on the client's side)
  router.add("GET", "/sandbox-archives/:id/download", (context) => {
    const row = readyArchive(store, context.tokenId, param(context, "id"));
    const file = data.archivePath(row.id);
    const size = statSync(file).size;
    context.res.writeHead(200, { "content-type": "application/gzip", "content-length": String(size) });
    return new Promise<{ sent: true }>((resolve, reject) => {
      const stream = createReadStream(file);
      stream.on("error", reject);
      context.res.on("close", () => stream.destroy());
      stream.pipe(context.res).on("finish", () => resolve({ sent: true }));
    });
  });

  router.add("POST", API.deploy, async (context) => {
    const body = await readJson(context.req, DeployRequest);
    const row = await createDeployment(services, context.tokenId, body);
    return { status: 202, json: { id: row.id, status: row.status } };
  });

  // GETs report a deployment's status as it is now and never record anything (see currentRow)
  router.add("GET", API.deployments, async (context) => ({ status: 200, json: await deploymentViews(services, context.tokenId) }));

  router.add("GET", "/deployed-sandboxes/:id", async (context) => ({
    status: 200,
    json: await deploymentView(services, ownedDeployment(store, context.tokenId, param(context, "id"))),
  }));

  router.add("DELETE", "/deployed-sandboxes/:id", async (context) => {
    await removeDeployment(services, context.tokenId, param(context, "id"));
    return { status: 200, json: { id: param(context, "id"), deleted: true } };
  });

  router.add("POST", "/sandbox/:id/stop", async (context) => ({ status: 200, json: await stopDeployment(services, context.tokenId, param(context, "id")) }));
  router.add("POST", "/sandbox/:id/start", async (context) => ({ status: 200, json: await startDeployment(services, context.tokenId, param(context, "id")) }));

  router.add("POST", "/deployed-sandboxes/:id/ttl", async (context) => {
    const body = await readJson(context.req, TtlRequest);
    return { status: 200, json: await setDeploymentTtl(services, context.tokenId, param(context, "id"), body.ttl_seconds) };
  });

  router.add("POST", "/deployed-sandboxes/:id/replace-mount", async (context) => {
    const body = await readJson(context.req, ReplaceMountRequest);
    return { status: 200, json: await replaceWorkspace(services, context.tokenId, param(context, "id"), body) };
  });

  router.add("POST", "/deployed-sandboxes/:id/resize", async (context) => {
    const body = await readJson(context.req, ResizeRequest);
    return { status: 200, json: await resizeDeployment(services, context.tokenId, param(context, "id"), body.size_class) };
  });

  router.add("POST", "/sandbox/:id/exec", async (context) => {
    const body = await readJson(context.req, ExecRequest);
    const release = services.execCap.take(context.tokenId);
    try {
      const options = { cwd: body.cwd, env: body.env, timeoutSeconds: body.timeout_seconds, signal: context.signal };
      if (!body.stream) return { status: 200, json: await execInDeployment(services, context.tokenId, param(context, "id"), body.command, options) };
      await streamExecInDeployment(services, context.tokenId, param(context, "id"), body.command, { ...options, res: context.res });
      return { sent: true };
    } finally {
      release();
    }
  });

  router.add("POST", "/deployed-sandboxes/:id/checkpoint", async (context) => ({ status: 200, json: await checkpointDeployment(services, context.tokenId, param(context, "id")) }));
  router.add("POST", "/deployed-sandboxes/:id/restore", async (context) => ({ status: 200, json: await restoreDeployment(services, context.tokenId, param(context, "id")) }));
  router.add("POST", "/deployed-sandboxes/:id/fork", async (context) => {
    const body = await readJson(context.req, ForkRequest);
    return { status: 201, json: await forkDeployment(services, context.tokenId, param(context, "id"), body) };
  });

  router.add("GET", "/deployed-sandboxes/:id/logs", (context) => {
    const offset = Math.max(0, Math.floor(Number(context.url.searchParams.get("offset") ?? 0)) || 0);
    const lines = Math.max(0, Math.floor(Number(context.url.searchParams.get("lines") ?? 0)) || 0);
    return { status: 200, json: deploymentLogs(services, context.tokenId, param(context, "id"), offset, lines) };
  });

  router.add("POST", API.proxyForDeployed, async (context) => {
    const body = await readJson(context.req, ProxyRequest);
    const row = ownedDeployment(store, context.tokenId, body.sandbox_id);
    if (row.freed) throw new HttpError(409, `${row.id} has been freed`, "freed");
    const endpoint = await requestEndpoint(services, row, body.port, body.is_public);
    return { status: 200, json: { id: endpoint.id, url: endpoint.url, hostname: endpoint.hostname, subdomain: endpoint.subdomain, port: body.port, is_public: body.is_public, sandbox_id: row.id } };
  });

  router.add("GET", API.capabilities, async () => ({ status: 200, json: await serverCapabilities(services) }));
  router.add("GET", API.usage, async (context) => ({ status: 200, json: await storageUsage(services, context.tokenId) }));

  addSandboxRoutes(router, services);
  addImageRoutes(router, services);
  return router;
}

/** read-file, write-file, restart and shell-session (issue 21). */
function addSandboxRoutes(router: Router, services: RouteServices): void {
  router.add("POST", "/sandbox/:id/read-file", async (context) => {
    const body = await readJson(context.req, ReadFileRequest);
    return { status: 200, json: await readDeploymentFile(services, context.tokenId, param(context, "id"), body.path, context.signal) };
  });
  router.add("POST", "/sandbox/:id/write-file", async (context) => {
    const body = await readJson(context.req, WriteFileRequest); // 413 beyond 1 MB of JSON
    return { status: 200, json: await writeDeploymentFile(services, context.tokenId, param(context, "id"), body, context.signal) };
  });
  router.add("POST", "/deployed-sandboxes/:id/restart", async (context) => {
    const id = param(context, "id");
    await stopDeployment(services, context.tokenId, id);
    return { status: 200, json: await startDeployment(services, context.tokenId, id) };
  });
  router.add("DELETE", "/deployed-sandboxes/:id/ports/:port", (context) => {
    const row = ownedDeployment(services.store, context.tokenId, param(context, "id"));
    const port = Number(param(context, "port"));
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new HttpError(422, `${param(context, "port")} is not a port number`, "invalid_request");
    const removed = services.store.deleteEndpointsOfPort(row.id, port);
    if (removed === 0) throw new HttpError(404, `port ${port} of ${row.id} has no endpoint`, "not_found");
    return { status: 200, json: { sandbox_id: row.id, port, removed } };
  });
  router.add("POST", "/deployed-sandboxes/:id/shell-session", async (context) => {
    const { row } = await runningSandbox(services, context.tokenId, param(context, "id"));
    const { token, expires } = signShellSession(services.secret, context.tokenId, row.id);
    const url = `${services.publicUrl().replace(/^http/, "ws")}${API.shell(row.id)}?${SHELL_SESSION_PARAM}=${encodeURIComponent(token)}`;
    return { status: 200, json: { sandbox_id: row.id, url, token, expires_at: new Date(expires * 1000).toISOString() } };
  });
}
