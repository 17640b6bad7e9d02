// `heyvm wt <branch> --deploy --publish-image`: the Dockerfile built into the firecracker format
// (as `heyvm images build --backend-type firecracker` does), packed as one bundle, uploaded to
// the cloud's image registry through a presigned URL (presign with its sha256 → PUT → register),
// after which the worktree is deployed with driver firecracker and `image: <name>`.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Reporter } from "../backends/types.js";
import type { CloudClient, UploadProgress } from "../cloud/client.js";
import { packImageBundle } from "../cloud/image-bundle.js";
import type { PublishedImage } from "../cloud/image-schema.js";
import type { Capabilities } from "../cloud/schema.js";
import { NotFoundError, UnavailableError } from "../shared/errors.js";
import { requireEngine } from "../images/custom/docker.js";
import { IMAGE_FORMATS } from "../images/custom/formats.js";
import type { HeyoHome } from "../state/home.js";
import { buildImage } from "./images.js";

export interface PublishRequest {
  dockerfile: string;
  name: string;
  sizeMb?: number;
  description?: string;
}

export interface PublishResult {
  image: PublishedImage;
  /** Where the image was built locally (images/firecracker/<name>/). */
  localPath: string;
  bundleBytes: number;
  buildMs: number;
  uploadMs: number;
}

/**
 * Refuses, before anything is built, to publish an image the cloud says it cannot run (a server
 * without Firecracker whose operator did not allow firecracker images under libvirt). A cloud
 * without the capabilities route (404) is not asked: its deploy says so as before.
 */
export async function requirePublishTarget(client: CloudClient): Promise<void> {
  let capabilities: Capabilities;
  try {
    capabilities = await client.capabilities();
  } catch (error) {
    if (error instanceof NotFoundError) return;
    throw error;
  }
  const firecracker = capabilities.published_images.find((entry) => entry.backend_type === "firecracker");
  if (firecracker?.runs_on) return;
  throw new UnavailableError(
    `the cloud cannot run firecracker images, so nothing was built: ${firecracker?.reason ?? "it takes no published firecracker images"}`,
    "ask the cloud's operator to enable them, or deploy without --publish-image",
  );
}

/** Fails saying how to start a Docker engine when none answers (checked before the long build). */
export function requirePublishEngine(): Promise<void> {
  return requireEngine("--publish-image");
}

export async function publishImage(home: HeyoHome, client: CloudClient, request: PublishRequest, hooks: { reporter: Reporter; onUploadProgress?: UploadProgress }): Promise<PublishResult> {
  const { reporter } = hooks;
  let mark = performance.now();
  const built = await buildImage(home, { backend: "firecracker", name: request.name, dockerfile: request.dockerfile, sizeMb: request.sizeMb, force: false }, reporter);
  const buildMs = performance.now() - mark;
  const scratch = mkdtempSync(join(tmpdir(), "heyvm-publish-"));
  try {
    mark = performance.now();
    reporter.progress(`packing ${built.path} for the image registry`);
    const bundle = await packImageBundle(built.path, join(scratch, "image.tar.gz"));
    const presigned = await client.presignImage({
      name: request.name,
      backend_type: "firecracker",
      format: IMAGE_FORMATS.firecracker.name,
      size_bytes: bundle.sizeBytes,
      sha256: bundle.sha256,
      ...(request.description ? { description: request.description } : {}),
    });
    reporter.progress(`uploading image ${request.name} (${presigned.image_id})`);
    await client.uploadImage(presigned.upload_url, bundle.path, bundle.sizeBytes, hooks.onUploadProgress);
    const image = await client.registerImage(presigned.image_id);
    return { image, localPath: built.path, bundleBytes: bundle.sizeBytes, buildMs, uploadMs: performance.now() - mark };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
