// `heyvm images build|list|rm`: the default VM image from Debian packages (no Docker needed), or
// a custom image from a Dockerfile (which needs a Docker engine to run `docker build`).
import { rmSync } from "node:fs";
import { resolve } from "node:path";
import { detectBackend } from "../backends/registry.js";
import { canPrepareImages, type Reporter } from "../backends/types.js";
import type { BackendName } from "../shared/backend-name.js";
import { ConflictError, NotFoundError, UserError } from "../shared/errors.js";
import { str } from "../shared/json.js";
import type { HeyoHome } from "../state/home.js";
import { processStatus } from "../state/status.js";
import { DEFAULT_IMAGE, dropRetiredCopies, imageDir, listImages, type ImageEntry } from "../images/store.js";
import { allSandboxes, type SandboxEntry } from "./catalog.js";

export interface ImageBuildRequest {
  backend: BackendName;
  name: string;
  dockerfile?: string;
  context?: string;
  platform?: string;
  sizeMb?: number;
  noCache?: boolean;
  /** Build again even if the image exists (the default image; a Dockerfile build always builds). */
  force: boolean;
}

/** What a build made, for the CLI (snake_case: scripts read its JSON). */
export interface BuiltImage {
  name: string;
  backend: string;
  path: string;
  size_bytes: number;
  kernel_origin: string | null;
  rootfs_size_mib: number | null;
  size_rule: string | null;
  engine_image_id: string | null;
}

function sandboxesUsing(home: HeyoHome, backend: string, name: string): SandboxEntry[] {
  return allSandboxes(home).filter((s) => s.spec.backend === backend && (s.spec.image ?? DEFAULT_IMAGE) === name);
}

/** Older builds of an image are kept aside while a sandbox on it runs; they go once none does. */
function dropRetiredIfIdle(home: HeyoHome, backend: string, name: string): void {
  const running = sandboxesUsing(home, backend, name).some((s) => processStatus(s.dir).status !== "stopped");
  if (!running) dropRetiredCopies(home, backend, name);
}

export async function buildImage(home: HeyoHome, request: ImageBuildRequest, reporter: Reporter): Promise<BuiltImage> {
  if (request.dockerfile) {
    const { buildCustomImage } = await import("../images/custom/build.js");
    const built = await buildCustomImage(
      home,
      { backend: request.backend, name: request.name, dockerfile: resolve(request.dockerfile), context: request.context ? resolve(request.context) : undefined, platform: request.platform, sizeMb: request.sizeMb, noCache: request.noCache },
      reporter,
    );
    dropRetiredIfIdle(home, request.backend, request.name);
    const details = built.manifest.details;
    return {
      name: request.name,
      backend: request.backend,
      path: built.dir,
      size_bytes: built.manifest.sizeBytes,
      kernel_origin: str(details, "kernelOrigin") ?? null,
      rootfs_size_mib: built.size?.sizeMiB ?? null,
      size_rule: built.size?.rule ?? null,
      engine_image_id: str(details, "engineImageId") ?? null,
    };
  }
  if (request.context || request.platform || request.sizeMb !== undefined) {
    throw new UserError("--context, --platform and --size-mb apply to a build from a Dockerfile", { hint: "give --file <Dockerfile>, or leave them out to build the default image" });
  }
  if (request.name !== DEFAULT_IMAGE) {
    throw new UserError(`without --file only the default image can be built (asked for "${request.name}")`, { hint: "drop --name, or give --file <Dockerfile>" });
  }
  const backend = await detectBackend(request.backend);
  if (!canPrepareImages(backend) || !backend.features.virtualMachine) {
    throw new UserError(`the ${request.backend} backend has no default image to build`, { hint: "bubblewrap uses the host's system unless --image names an image built with --file" });
  }
  const dir = imageDir(home, request.backend, DEFAULT_IMAGE);
  if (request.force) rmSync(dir, { recursive: true, force: true });
  await backend.prepareImage(home, null, reporter);
  const entry = listImages(home).find((image) => image.dir === dir);
  return { name: DEFAULT_IMAGE, backend: request.backend, path: dir, size_bytes: entry?.sizeBytes ?? 0, kernel_origin: "default", rootfs_size_mib: null, size_rule: null, engine_image_id: null };
}

/** A local image as `heyvm images list` shows it (snake_case: scripts read its JSON). */
export interface ImageRow {
  name: string;
  backend: string;
  size_bytes: number;
  created_at: string;
  /** Where its kernel comes from: the image's own, heyvm's default injected, heyvm's default image, or none (bubblewrap). */
  kernel_origin: string;
  /** dockerfile or default. */
  source: string;
  format: string | null;
  path: string;
  /** Has a readable image.json. */
  valid: boolean;
}

function kernelOrigin(image: ImageEntry): string {
  const details = image.manifest?.details ?? {};
  const origin = str(details, "kernelOrigin");
  if (origin) return origin === "host" ? "-" : origin;
  return image.manifest ? "default" : "-";
}

export function listImageRows(home: HeyoHome): ImageRow[] {
  return listImages(home).map((image) => ({
    name: image.name,
    backend: image.backend,
    size_bytes: image.sizeBytes,
    created_at: image.createdAt,
    kernel_origin: kernelOrigin(image),
    source: str(image.manifest?.details ?? {}, "source") ?? "default",
    format: str(image.manifest?.details ?? {}, "format") ?? null,
    path: image.dir,
    valid: image.manifest !== undefined,
  }));
}

/** Removes a local image; refused while a sandbox uses it or when the name is ambiguous. */
export async function removeImage(home: HeyoHome, name: string, backend: string | undefined): Promise<{ backend: string; name: string }> {
  const matches = listImages(home).filter((image) => image.name === name && (!backend || image.backend === backend));
  if (matches.length === 0) throw new NotFoundError(`no local image named "${name}"${backend ? ` for ${backend}` : ""}`, "see `heyvm images list`");
  if (matches.length > 1) throw new ConflictError(`"${name}" exists for several backends (${matches.map((m) => m.backend).join(", ")})`, "pick one with --backend-type");
  const [image] = matches as [ImageEntry];
  const users = sandboxesUsing(home, image.backend, image.name);
  if (users.length > 0) {
    throw new ConflictError(`image ${name} is used by ${users.map((u) => u.spec.id).join(", ")}`, `remove ${users.length === 1 ? "that sandbox" : "those sandboxes"} first (\`heyvm rm <id> -y\`), or build again under the same name to replace it`);
  }
  rmSync(image.dir, { recursive: true, force: true });
  dropRetiredCopies(home, image.backend, image.name);
  if (str(image.manifest?.details ?? {}, "source") === "dockerfile") {
    // the Dockerfile's own image was kept as the next build's cache: it goes with the image
    const [{ dockerReachable, removeImages }, { engineTag }] = await Promise.all([import("../images/custom/docker.js"), import("../images/custom/build.js")]);
    if (await dockerReachable()) await removeImages([engineTag(image.backend as BackendName, image.name)]);
  }
  return { backend: image.backend, name: image.name };
}
