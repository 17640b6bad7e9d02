// The route table of the cloud API (ARCHITECTURE.md §5), each handler a few lines over the services.
import { errorMessage } from "../shared/errors.js";
import { createWriteStream, renameSync, rmSync, statSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import { Transform } from "node:stream";
import { randomBytes } from "node:crypto";
import {
  API,
  DeployRequest,
  ExecRequest,
  FinalizeRequest,
  PresignRequest,
  ProxyRequest,
  ReplaceMountRequest,
  TtlRequest,
  type ArchiveRecord,
} from "../cloud/schema.js";
import type { DeploymentServices } from "./context.js";
import { deploymentView, deploymentViews } from "./deployment-view.js";
import { ArchiveRejectedError, checkArchive, extractLimitsOf } from "./extract.js";
import { HttpError, Router, readJson, type RequestContext } from "./http.js";
import { addImageRoutes } from "./images.js";
import { createDeployment, removeDeployment, setDeploymentTtl, startDeployment, stopDeployment } from "./lifecycle.js";
import { ownedArchive, ownedDeployment } from "./ownership.js";
import { addEndpoint } from "./port-proxy.js";
import { deploymentLogs, execInDeployment } from "./sandbox-exec.js";
import { checkUploadSignature, signUpload } from "./signing.js";
import type { ArchiveRow } from "./store.js";
import { replaceWorkspace } from "./workspace-replace.js";

export interface RouteServices extends DeploymentServices {
  secret: Buffer;
  /** The address clients reach this server at. */
  publicUrl(): string;
}

function archiveJson(row: ArchiveRow): ArchiveRecord {
  return { id: row.id, size_bytes: row.size_bytes, created_at: row.created_at, name: row.name, sandbox_id: row.sandbox_id };
}

function param(context: RequestContext, name: string): string {
  return context.params[name] ?? "";
}

async function receiveUpload(services: RouteServices, context: RequestContext): Promise<number> {
  const id = param(context, "id");
  const check = checkUploadSignature(services.secret, id, context.url.searchParams);
  if (!check.ok) throw new HttpError(403, check.reason, "bad_signature");
  const row = services.store.archive(id);
  if (!row) throw new HttpError(404, `no archive ${id}`, "not_found");
  if (row.status !== "pending") throw new HttpError(409, `archive ${id} is already finalized`, "finalized");
  const limit = services.config.maxUploadBytes;
  const declared = Number(context.req.headers["content-length"] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw new HttpError(413, `the archive is ${declared} bytes; this server takes at most ${limit}`, "too_large");
  const final = services.data.archivePath(id);
  const part = `${final}.${randomBytes(3).toString("hex")}.part`;
  let size = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > limit) done(new HttpError(413, `the archive is larger than this server's limit of ${limit} bytes`, "too_large"));
      else done(null, chunk);
    },
  });
  try {
    await pipeline(context.req, counter, createWriteStream(part, { mode: 0o600 }));
    renameSync(part, final);
  } catch (error) {
    rmSync(part, { force: true });
    if (error instanceof HttpError) {
      context.res.setHeader("connection", "close");
      throw error;
    }
    throw new HttpError(400, `the upload did not complete: ${errorMessage(error)}`, "upload_incomplete");
  }
  services.store.updateArchive(id, { size_bytes: size });
  return size;
}

export function buildRoutes(services: RouteServices): Router {
  const { store, data } = services;
  const router = new Router();

  router.add("POST", API.presign, async (context) => {
    const body = await readJson(context.req, PresignRequest);
    if (body.size_bytes !== undefined && body.size_bytes > services.config.maxUploadBytes) {
      throw new HttpError(413, `the archive is ${body.size_bytes} bytes; this server takes at most ${services.config.maxUploadBytes}`, "too_large");
    }
    const id = `arc-${randomBytes(6).toString("hex")}`;
    const expires = Math.floor(Date.now() / 1000) + services.config.uploadUrlTtlSeconds;
    store.insertArchive({ id, token_id: context.tokenId, status: "pending", size_bytes: 0, name: body.name ?? null, sandbox_id: null, created_at: new Date().toISOString() });
    const uploadUrl = `${services.publicUrl()}${API.upload(id)}?${signUpload(services.secret, id, expires)}`;
    return { status: 200, json: { archive_id: id, upload_url: uploadUrl, expires_at: new Date(expires * 1000).toISOString() } };
  });

  router.add("PUT", "/sandbox-archives/:id/upload", async (context) => {
    const size = await receiveUpload(services, context);
    return { status: 200, json: { id: param(context, "id"), size_bytes: size } };
  }, { auth: false });

  router.add("POST", "/sandbox-archives/:id/finalize", async (context) => {
    const body = await readJson(context.req, FinalizeRequest);
    const row = ownedArchive(store, context.tokenId, param(context, "id"));
    if (row.status === "ready") return { status: 200, json: archiveJson(row) };
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
    store.updateArchive(row.id, { status: "ready", size_bytes: size, sandbox_id: body.sandbox_id, name: body.name ?? row.name });
    return { status: 200, json: archiveJson({ ...row, status: "ready", size_bytes: size, sandbox_id: body.sandbox_id, name: body.name ?? row.name }) };
  });

  router.add("GET", API.archives, (context) => ({ status: 200, json: store.archivesOf(context.tokenId).map(archiveJson) }));

  router.add("DELETE", "/sandbox-archives/:id", (context) => {
    const row = ownedArchive(store, context.tokenId, param(context, "id"));
    rmSync(data.archivePath(row.id), { force: true });
    store.deleteArchive(row.id);
    return { status: 200, json: { id: row.id, deleted: true } };
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

  router.add("POST", "/sandbox/:id/exec", async (context) => {
    const body = await readJson(context.req, ExecRequest);
    const result = await execInDeployment(services, context.tokenId, param(context, "id"), body.command, { cwd: body.cwd, env: body.env, signal: context.signal });
    return { status: 200, json: result };
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
    const endpoint = addEndpoint(services, row, body.port, body.is_public);
    return { status: 200, json: { id: endpoint.id, url: endpoint.url, port: body.port, is_public: body.is_public, sandbox_id: row.id } };
  });

  addImageRoutes(router, services);
  return router;
}
