// A stopped VM sandbox's disk as a new local image (`heyvm snapshot`): the image's boot files
// (kernel, initrd) copied from the image it ran on, its root disk the sandbox's whole chain
// flattened into one file (`qemu-img convert`: the image, any fork layers and its overlay), so the
// new image depends on nothing else. Written in a hidden folder and renamed into place.
import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";
import type { BackendName } from "../shared/backend-name.js";
import { ConflictError, UserError } from "../shared/errors.js";
import { run } from "../shared/run.js";
import type { HeyoHome } from "../state/home.js";
import { IMAGE_MANIFEST, imageDir, readManifest, type ImageManifest } from "./store.js";
import { markVerified } from "./vm/verify.js";
import { sha256File } from "./vm/build.js";

export interface SnapshotSource {
  backend: BackendName;
  /** The image the sandbox runs on. */
  image: string;
  /** The sandbox's own disk: a qcow2 overlay (libvirt) or a raw ext4 file (firecracker). */
  disk: string;
  sandboxId: string;
}

/** Image names are folder names: letters, digits, '.', '_', '-'. */
export function checkImageName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name)) throw new UserError(`"${name}" is not a usable image name`, { hint: "use letters, digits, '.', '_' and '-' (at most 63)" });
}

/** Makes images/<backend>/<name>/ from the sandbox's disk; returns its manifest. */
export async function imageFromDisk(home: HeyoHome, source: SnapshotSource, name: string): Promise<ImageManifest & { dir: string }> {
  checkImageName(name);
  const target = imageDir(home, source.backend, name);
  if (existsSync(target)) throw new ConflictError(`a ${source.backend} image named ${name} exists already`, "choose another --name, or remove it first (heyvm images rm)");
  const from = imageDir(home, source.backend, source.image);
  const manifest = readManifest(from);
  if (!manifest) throw new UserError(`the image ${source.image} the sandbox ran on has no readable image.json`, { hint: "see `heyvm images list`" });
  if (!existsSync(source.disk)) throw new ConflictError(`sandbox ${source.sandboxId} has no disk yet (it never started)`, "start it once, or use its image directly");
  const building = join(dirname(target), `.build-${name}-${randomBytes(4).toString("hex")}`);
  mkdirSync(building, { recursive: true });
  try {
    const checksums: Record<string, string> = { ...manifest.checksums };
    for (const [role, file] of Object.entries(manifest.files)) {
      if (role === "rootfs") continue;
      await run("cp", ["--reflink=auto", "--", join(from, file), join(building, basename(file))]);
    }
    const rootfs = manifest.files.rootfs ?? "rootfs.qcow2";
    const out = join(building, basename(rootfs));
    if (source.backend === "libvirt") {
      const format = rootfs.endsWith(".qcow2") ? "qcow2" : "raw";
      await run("qemu-img", ["convert", "-q", "-O", format, source.disk, out]);
    } else {
      await run("cp", ["--reflink=auto", "--sparse=always", "--", source.disk, out]);
    }
    checksums.rootfs = await sha256File(out);
    const files = Object.fromEntries(Object.entries(manifest.files).map(([role, file]) => [role, basename(file)]));
    const sizeBytes = Object.values(files).reduce((sum, file) => sum + statSync(join(building, file)).blocks * 512, 0);
    const made: ImageManifest = {
      ...manifest,
      name,
      createdAt: new Date().toISOString(),
      files,
      checksums,
      sizeBytes,
      details: { ...manifest.details, source: "snapshot", snapshotOf: source.sandboxId, baseImage: source.image },
    };
    writeFileSync(join(building, IMAGE_MANIFEST), `${JSON.stringify(made, null, 2)}\n`);
    markVerified(building, made);
    renameSync(building, target);
    return { ...made, dir: target };
  } catch (error) {
    rmSync(building, { recursive: true, force: true });
    throw error;
  }
}
