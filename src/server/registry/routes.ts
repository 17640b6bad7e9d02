// The cloud's image registry on the self-hostable server: presign → PUT the bundle to a signed,
// expiring URL → register (sha256 checked against the presign, the bundle against its own
// image.json) → the image is unpacked into the server's image store as images/<backend>/<im-id>/
// and deployments name it with `image: <name>`. Images are private to their token: another
// token's are answered exactly like ones that do not exist.
//
// Firecracker-format images need a host with Firecracker. Where there is none the deploy is
// refused, unless the operator allowed running them under libvirt (heyvm server
// --firecracker-images-on-libvirt): the format's files (vmlinux, initrd, raw ext4) are what the
// libvirt backend boots too, so the server gives it a libvirt view of the same files (hard
// links, with libvirt's command line) and the deployment says which driver really runs it.
import { createHash, randomBytes } from "node:crypto";
import { copyFileSync, existsSync, linkSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { detectBackend } from "../../backends/registry.js";
import { IMAGE_API, ImagePresignRequest, ImageRegisterRequest, type PublishedImage } from "../../cloud/image-schema.js";
import { IMAGE_FORMATS } from "../../images/custom/formats.js";
import { IMAGE_MANIFEST, imageDir, readManifest } from "../../images/store.js";
import { isBackendName, type BackendName } from "../../shared/backend-name.js";
import { writeJsonFile } from "../../shared/json.js";
import type { DeploymentServices } from "../context.js";
import { ArchiveRejectedError } from "../archives/extract.js";
import { HttpError, readJson, type RequestContext, type Router } from "../http/messages.js";
import { unpackImageBundle } from "./bundle.js";
import { publishedDiskProblem } from "./disk-check.js";
import type { ImageRow, ImageStore } from "./store.js";
import { checkUploadSignature, signUpload } from "../archives/signing.js";
import { checkStorage } from "../deployments/storage.js";
import { receiveBody, type UploadGuard } from "../archives/uploads.js";

export interface ImageServices extends DeploymentServices {
  secret: Buffer;
  uploads: UploadGuard;
  publicUrl(): string;
}

/** Backends whose image formats are single files the registry can take. */
export const PUBLISHABLE: readonly BackendName[] = ["firecracker", "libvirt"];

/** Where an image's bundle is kept from its upload until it is registered. */
export function uploadPath(services: DeploymentServices, id: string): string {
  return join(services.data.root, "image-uploads", `${id}.tar.gz`);
}

function imageJson(row: ImageRow): PublishedImage {
  return { id: row.id, name: row.name, description: row.description, backend_type: row.backend_type, format: row.format, size_bytes: row.received_bytes ?? row.size_bytes, created_at: row.created_at };
}

function ownedImage(images: ImageStore, tokenId: string, id: string): ImageRow {
  const row = images.image(id);
  if (!row || row.token_id !== tokenId) throw new HttpError(404, `no image ${id}`, "not_found");
  return row;
}

/** Deployments that may still boot from an image (not freed, not deleted). */
function deploymentsOn(services: DeploymentServices, imageId: string): string[] {
  return services.images
    .usesOf(imageId)
    .map((use) => services.store.deployment(use.deployment_id))
    .filter((row) => row !== undefined && !row.freed && !row.deleted)
    .map((row) => row?.id ?? "");
}

/** Deletes an image's records and files (the upload, its folders for every backend that has a view). */
function dropImage(services: ImageServices, row: ImageRow): void {
  rmSync(uploadPath(services, row.id), { force: true });
  for (const backend of ["firecracker", "libvirt"] as const) rmSync(imageDir(services.data.home, backend, row.id), { recursive: true, force: true });
  services.images.delete(row.id);
}

/** Older versions of a name that nothing can boot any more go once a newer one is registered. */
function dropUnusedOlderVersions(services: ImageServices, fresh: ImageRow): void {
  for (const row of services.images.imagesOf(fresh.token_id, fresh.backend_type)) {
    if (row.id !== fresh.id && row.name === fresh.name && deploymentsOn(services, row.id).length === 0) {
      dropImage(services, row);
      services.log(`image ${row.id}: replaced by ${fresh.id} (${fresh.name}), removed`);
    }
  }
}

async function receiveImage(services: ImageServices, context: RequestContext): Promise<ImageRow> {
  const id = context.params.id ?? "";
  const check = checkUploadSignature(services.secret, id, context.url.searchParams);
  if (!check.ok) throw new HttpError(403, check.reason, "bad_signature");
  const row = services.images.image(id);
  if (!row) throw new HttpError(404, `no image ${id}`, "not_found");
  if (row.status !== "pending") throw new HttpError(409, `image ${id} is already registered`, "registered");
  const limit = row.size_bytes; // declared at presign, itself within the server's limit
  const declared = Number(context.req.headers["content-length"] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw new HttpError(413, `the upload is ${declared} bytes; ${row.size_bytes} were presigned`, "too_large");
  if (!services.store.isTokenLive(row.token_id)) throw new HttpError(403, "the upload URL's token has been revoked", "revoked");
  const final = uploadPath(services, id);
  mkdirSync(join(services.data.root, "image-uploads"), { recursive: true, mode: 0o700 });
  const part = `${final}.${randomBytes(3).toString("hex")}.part`;
  const hash = createHash("sha256");
  const end = services.uploads.beginUpload(id);
  let size: number;
  try {
    size = await receiveBody(context.req, part, limit, (chunk) => hash.update(chunk));
    // the last word, nothing awaited before the rename: still pending and not being registered
    const now = services.images.image(id);
    if (!now || now.status !== "pending" || services.uploads.isFinalizing(id)) throw new HttpError(409, `image ${id} was registered or removed during the upload`, "registered");
    renameSync(part, final);
  } catch (error) {
    if (error instanceof HttpError) context.res.setHeader("connection", "close");
    throw error;
  } finally {
    rmSync(part, { force: true });
    end();
  }
  services.images.update(id, { received_bytes: size, received_sha256: hash.digest("hex") });
  return { ...row, received_bytes: size };
}

async function registerImage(services: ImageServices, tokenId: string, id: string): Promise<ImageRow> {
  const row = ownedImage(services.images, tokenId, id);
  if (row.status === "ready") return row;
  const end = services.uploads.beginFinalize(row.id);
  try {
    return await registerUploaded(services, row);
  } finally {
    end();
  }
}

/** Checks and unpacks an image's upload (no PUT can change it meanwhile: the caller holds the guard). */
async function registerUploaded(services: ImageServices, row: ImageRow): Promise<ImageRow> {
  const upload = uploadPath(services, row.id);
  if (!existsSync(upload) || row.received_sha256 === null) throw new HttpError(409, `nothing was uploaded to image ${row.id} yet`, "not_uploaded");
  const refuse = (message: string): never => {
    dropImage(services, row);
    throw new HttpError(422, `image refused: ${message}`, "image_rejected");
  };
  if (row.received_sha256 !== row.sha256) refuse(`the upload's sha256 is ${row.received_sha256}, not the ${row.sha256} presigned (tampered with or damaged on the way)`);
  if (row.received_bytes !== row.size_bytes) refuse(`the upload is ${row.received_bytes ?? 0} bytes, not the ${row.size_bytes} presigned`);
  if (!isBackendName(row.backend_type)) refuse(`unknown backend ${row.backend_type}`);
  try {
    await unpackImageBundle(upload, imageDir(services.data.home, row.backend_type as BackendName, row.id), { backend: row.backend_type, name: row.id, maxBytes: services.config.maxImageUnpackedBytes });
  } catch (error) {
    if (error instanceof ArchiveRejectedError) refuse(error.message);
    throw error;
  }
  rmSync(upload, { force: true }); // unpacked into the image store: the bundle is not needed any more
  services.images.update(row.id, { status: "ready" });
  const ready = { ...row, status: "ready" as const };
  services.log(`image ${row.id}: registered ${row.backend_type}/${row.name} (${row.size_bytes} bytes)`);
  dropUnusedOlderVersions(services, ready);
  return ready;
}

export function addImageRoutes(router: Router, services: ImageServices): void {
  const { images, config } = services;

  router.add("POST", IMAGE_API.presign, async (context) => {
    const body = await readJson(context.req, ImagePresignRequest);
    if (!PUBLISHABLE.includes(body.backend_type)) throw new HttpError(422, `the registry takes ${PUBLISHABLE.join(" and ")} images, not ${body.backend_type}`, "unsupported_backend");
    if (body.size_bytes > config.maxImageBytes) throw new HttpError(413, `the image is ${body.size_bytes} bytes; this server takes at most ${config.maxImageBytes}`, "too_large");
    const before = new Date(Date.now() - (config.uploadUrlTtlSeconds + 60) * 1000).toISOString();
    for (const stale of images.stalePending(context.tokenId, before)) dropImage(services, stale); // abandoned uploads
    if (images.countOf(context.tokenId) >= config.maxImagesPerToken) {
      throw new HttpError(429, `this token already has ${config.maxImagesPerToken} images (the limit); delete some with DELETE ${IMAGE_API.image("<id>")}`, "quota");
    }
    await checkStorage(services, context.tokenId, "publish another image", body.size_bytes);
    const id = `im-${randomBytes(6).toString("hex")}`;
    const expires = Math.floor(Date.now() / 1000) + config.uploadUrlTtlSeconds;
    images.insert({
      id,
      token_id: context.tokenId,
      name: body.name,
      backend_type: body.backend_type,
      format: body.format ?? IMAGE_FORMATS[body.backend_type].name,
      description: body.description ?? null,
      status: "pending",
      size_bytes: body.size_bytes,
      sha256: body.sha256,
      received_bytes: null,
      received_sha256: null,
      created_at: new Date().toISOString(),
    });
    const uploadUrl = `${services.publicUrl()}${IMAGE_API.upload(id)}?${signUpload(services.secret, id, expires)}`;
    return { status: 200, json: { image_id: id, upload_url: uploadUrl, expires_at: new Date(expires * 1000).toISOString() } };
  });

  router.add("PUT", "/images/:id/upload", async (context) => {
    const row = await receiveImage(services, context);
    return { status: 200, json: { id: row.id, size_bytes: row.received_bytes } };
  }, { auth: false });

  router.add("POST", "/images/:id/register", async (context) => {
    await readJson(context.req, ImageRegisterRequest);
    return { status: 200, json: imageJson(await registerImage(services, context.tokenId, context.params.id ?? "")) };
  });

  router.add("GET", IMAGE_API.list, (context) => {
    const backend = context.url.searchParams.get("backend") ?? undefined;
    if (backend !== undefined && !isBackendName(backend)) throw new HttpError(422, `unknown backend "${backend}"`, "unknown_backend");
    return { status: 200, json: { images: images.imagesOf(context.tokenId, backend).map(imageJson) } };
  });

  router.add("GET", "/images/:id", (context) => {
    const row = ownedImage(images, context.tokenId, context.params.id ?? "");
    if (row.status !== "ready") throw new HttpError(404, `no image ${row.id}`, "not_found");
    return { status: 200, json: imageJson(row) };
  });

  router.add("DELETE", "/images/:id", (context) => {
    const row = ownedImage(images, context.tokenId, context.params.id ?? "");
    const users = deploymentsOn(services, row.id);
    if (users.length > 0) throw new HttpError(409, `image ${row.id} is used by ${users.join(", ")}; delete ${users.length === 1 ? "that deployment" : "those deployments"} first`, "in_use");
    dropImage(services, row);
    return { status: 200, json: { id: row.id, deleted: true } };
  });
}

/** Gives a firecracker-format image a libvirt view: the same files (hard links) with libvirt's boot line. */
function ensureLibvirtView(services: DeploymentServices, id: string): void {
  const source = imageDir(services.data.home, "firecracker", id);
  const target = imageDir(services.data.home, "libvirt", id);
  if (existsSync(join(target, IMAGE_MANIFEST))) return;
  const manifest = readManifest(source);
  if (!manifest) throw new HttpError(409, `image ${id} has no readable image.json on this server`, "image_damaged");
  const work = `${target}.view-${randomBytes(3).toString("hex")}`;
  mkdirSync(work, { recursive: true });
  try {
    for (const file of Object.values(manifest.files)) {
      try {
        linkSync(join(source, file), join(work, file));
      } catch {
        copyFileSync(join(source, file), join(work, file));
      }
    }
    const boot = { ...(typeof manifest.details.boot === "object" && manifest.details.boot !== null && !Array.isArray(manifest.details.boot) ? manifest.details.boot : {}), cmdline: IMAGE_FORMATS.libvirt.cmdline ?? "" };
    writeJsonFile(join(work, IMAGE_MANIFEST), { ...manifest, backend: "libvirt", details: { ...manifest.details, boot, viewOf: "firecracker" } });
    rmSync(target, { recursive: true, force: true });
    renameSync(work, target);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface PublishedResolution {
  backend: BackendName;
  /** The server-local image name (the image id). */
  image: string;
  published: { imageId: string; requestedDriver: string };
}

function normalizedDriver(driver: string): string {
  const normalized = driver.trim().toLowerCase().replace(/-/g, "_");
  return normalized === "bwrap" ? "bubblewrap" : normalized;
}

/**
 * When `image` names one of the token's published images for the driver, where it runs (see the
 * file comment); undefined when it does not, so the server's catalog decides as before.
 */
export async function resolvePublishedImage(services: DeploymentServices, tokenId: string, driver: string, image: string): Promise<PublishedResolution | undefined> {
  const requested = normalizedDriver(driver);
  const row = isBackendName(requested) ? services.images.newest(tokenId, requested, image) : undefined;
  if (!row) return undefined;
  const backend = row.backend_type as BackendName;
  const published = { imageId: row.id, requestedDriver: requested };
  // checked again before every boot: an image registered by an older server was never checked
  const dir = imageDir(services.data.home, backend, row.id);
  const manifest = readManifest(dir);
  const problem = manifest ? await publishedDiskProblem(dir, manifest, backend) : `it has no readable ${IMAGE_MANIFEST} on this server`;
  if (problem) throw new HttpError(422, `image ${row.name} (${row.id}) refused: ${problem}`, "image_rejected");
  const host = await publishedImageHost(services, backend);
  if ("refused" in host) throw host.refused;
  if (host.backend !== backend) ensureLibvirtView(services, row.id);
  return { backend: host.backend, image: row.id, published };
}

/**
 * Where images published in a backend's format run on this server (the capabilities route asks
 * it before a client builds one), or the refusal a deploy of such an image gets.
 */
export async function publishedImageHost(services: DeploymentServices, backend: BackendName): Promise<{ backend: BackendName } | { refused: HttpError }> {
  const availability = await (await detectBackend(backend)).probe();
  if (availability.usable) return { backend };
  if (backend !== "firecracker") return { refused: new HttpError(422, `driver "${backend}" is not usable on this server: ${availability.reason}`, "driver_unavailable") };
  if (!services.config.firecrackerImagesOnLibvirt) {
    return { refused: new HttpError(422, `this server cannot run firecracker sandboxes (${availability.reason}); its operator can let firecracker-format images run under libvirt with \`heyvm server --firecracker-images-on-libvirt\``, "driver_unavailable") };
  }
  const libvirt = await (await detectBackend("libvirt")).probe();
  if (!libvirt.usable) return { refused: new HttpError(422, `this server can run firecracker images only under libvirt, and libvirt is not usable: ${libvirt.reason}`, "driver_unavailable") };
  return { backend: "libvirt" };
}

/** What a deployment's view adds when it runs a published image: the driver asked for. */
export function publishedImageFacts(services: DeploymentServices, deploymentId: string): { requested_driver?: string; image_id?: string } {
  const use = services.images.useOf(deploymentId);
  return use ? { requested_driver: use.requested_driver, image_id: use.image_id } : {};
}
