// `heyvm images build`: the default VM image from Debian packages (no Docker needed), or a
// custom image from a Dockerfile (which needs a Docker engine to run `docker build`).
import { detectBackend } from "../backends/registry.js";
import { canPrepareImages, type Reporter } from "../backends/types.js";
import type { BackendName } from "../shared/backend-name.js";
import { ConflictError, NotFoundError, UnavailableError, UserError } from "../shared/errors.js";
import type { HeyoHome } from "../state/home.js";
import { rmSync } from "node:fs";
import { DEFAULT_IMAGE, imageDir, listImages, type ImageEntry } from "../images/store.js";
import { allSandboxes } from "./catalog.js";
import { dockerReachable } from "./docker.js";

export interface ImageBuildRequest {
  backend: BackendName;
  name: string;
  dockerfile?: string;
  sizeMb?: number;
  /** Build again even if the image exists. */
  force: boolean;
}

export async function buildImage(home: HeyoHome, request: ImageBuildRequest, reporter: Reporter): Promise<string> {
  if (request.dockerfile) {
    if (!(await dockerReachable())) {
      throw new UnavailableError(
        `building an image from ${request.dockerfile} runs \`docker build\`, and no Docker engine answers on this host`,
        "start Docker (Docker Desktop, or dockerd), or leave out --file to build the default image from Debian packages",
      );
    }
    throw new UnavailableError("building images from a Dockerfile is not supported by this heyvm build yet", "leave out --file to build the default image");
  }
  if (request.name !== DEFAULT_IMAGE) {
    throw new UserError(`without --file only the default image can be built (asked for "${request.name}")`, { hint: "drop --name, or give --file <Dockerfile>" });
  }
  const backend = await detectBackend(request.backend);
  if (!canPrepareImages(backend) || !backend.features.virtualMachine) {
    throw new UserError(`the ${request.backend} backend has no default image to build`, { hint: "bubblewrap uses the host's system unless --image names a root filesystem" });
  }
  const dir = imageDir(home, request.backend, DEFAULT_IMAGE);
  if (request.force) rmSync(dir, { recursive: true, force: true });
  await backend.prepareImage(home, null, reporter);
  return dir;
}

/** A local image as `heyvm images list` shows it (snake_case: scripts read its JSON). */
export interface ImageRow {
  name: string;
  backend: string;
  size_bytes: number;
  created_at: string;
  path: string;
  /** Has a readable image.json. */
  valid: boolean;
}

export function listImageRows(home: HeyoHome): ImageRow[] {
  return listImages(home).map((image) => ({
    name: image.name,
    backend: image.backend,
    size_bytes: image.sizeBytes,
    created_at: image.createdAt,
    path: image.dir,
    valid: image.manifest !== undefined,
  }));
}

/** Removes a local image; refused while a sandbox uses it or when the name is ambiguous. */
export function removeImage(home: HeyoHome, name: string, backend: string | undefined): { backend: string; name: string } {
  const matches = listImages(home).filter((image) => image.name === name && (!backend || image.backend === backend));
  if (matches.length === 0) throw new NotFoundError(`no local image named "${name}"`, "see `heyvm images list`");
  if (matches.length > 1) throw new ConflictError(`"${name}" exists for several backends (${matches.map((m) => m.backend).join(", ")})`, "pick one with --backend-type");
  const [image] = matches as [ImageEntry];
  const users = allSandboxes(home).filter((s) => s.spec.backend === image.backend && (s.spec.image ?? DEFAULT_IMAGE) === image.name);
  if (users.length > 0) {
    throw new ConflictError(`image ${name} is used by ${users.map((u) => u.spec.id).join(", ")}`, "remove those sandboxes first (rm -rf ~/.heyo/sandboxes/<id> once stopped)");
  }
  rmSync(image.dir, { recursive: true, force: true });
  return { backend: image.backend, name: image.name };
}
