// The storage quota of a token (storageQuotaBytes): what it keeps on this server's disk, measured
// with du (blocks really used, so sparse VM disks count what they hold): its archives, its images
// (bundles being uploaded and unpacked images) and its deployments (workspace and sandbox folder,
// running or stopped). Freed at once by DELETE of an archive, image or deployment; a stopped
// deployment's workspace is removed by the sweep keepStoppedSeconds after it stopped.
import type { UsageResponse } from "../../cloud/schema.js";
import { imageDir } from "../../images/store.js";
import { run } from "../../shared/run.js";
import type { DeploymentServices } from "../context.js";
import { sandboxOf } from "./status.js";
import { HttpError } from "../http/messages.js";
import { uploadPath } from "../registry/routes.js";

/** Bytes on disk under each path (0 for one that is not there), in one du run. */
async function diskBytes(paths: string[]): Promise<number> {
  if (paths.length === 0) return 0;
  const result = await run("du", ["-s", "-B1", "--", ...paths], { allowFailure: true }); // a missing path is only a note on stderr
  let total = 0;
  for (const line of result.stdout.split("\n")) total += Number(/^(\d+)\t/.exec(line)?.[1] ?? 0);
  return total;
}

/** What the token keeps on this server's disk now, against its quota. */
export async function storageUsage(services: DeploymentServices, tokenId: string): Promise<UsageResponse> {
  const archives = services.store.allArchivesOf(tokenId).map((row) => services.data.archivePath(row.id));
  const images = services.images.allOf(tokenId).flatMap((row) => [uploadPath(services, row.id), ...(["firecracker", "libvirt"] as const).map((backend) => imageDir(services.data.home, backend, row.id))]);
  const deployments = services.store.deploymentsOf(tokenId).flatMap((row) => [services.data.workspacePath(row.id), ...[sandboxOf(services, row)?.dir.root ?? []].flat()]);
  const [archivesBytes, imagesBytes, deploymentsBytes] = await Promise.all([diskBytes(archives), diskBytes(images), diskBytes(deployments)]);
  return {
    used_bytes: archivesBytes + imagesBytes + deploymentsBytes,
    quota_bytes: services.config.storageQuotaBytes,
    archives_bytes: archivesBytes,
    images_bytes: imagesBytes,
    deployments_bytes: deploymentsBytes,
  };
}

const mib = (bytes: number): string => `${(bytes / 1024 ** 2).toFixed(1)} MiB`;

/** 429 (code storage_quota) when the token's storage, with `adding` more bytes, would pass its quota; what to do says how to free some. */
export async function checkStorage(services: DeploymentServices, tokenId: string, what: string, adding = 0): Promise<void> {
  const usage = await storageUsage(services, tokenId);
  if (usage.used_bytes + adding < usage.quota_bytes && usage.used_bytes < usage.quota_bytes) return;
  const parts = `archives ${mib(usage.archives_bytes)}, images ${mib(usage.images_bytes)}, deployments ${mib(usage.deployments_bytes)}`;
  throw new HttpError(
    429,
    `cannot ${what}: this token uses ${mib(usage.used_bytes)} of its ${mib(usage.quota_bytes)} storage quota (${parts})${adding > 0 ? ` and this needs ${mib(adding)} more` : ""}; delete deployments, archives or images it no longer needs (stopped deployments keep their workspace until deleted)`,
    "storage_quota",
  );
}
