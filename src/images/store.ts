// The local image store: images/<backend>/<name>/ holds a built image and its image.json.
import { existsSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";
import type { BackendName } from "../shared/backend-name.js";
import { isObject, num, readJsonFile, str, type JsonObject } from "../shared/json.js";
import type { HeyoHome } from "../state/home.js";

export const IMAGE_MANIFEST = "image.json";
export const DEFAULT_IMAGE = "default";

export interface ImageManifest {
  name: string;
  backend: BackendName;
  createdAt: string;
  /** Files of the image, by role (rootfs, kernel, initrd…), relative to the image folder. */
  files: Record<string, string>;
  /** sha256 of each file named in `files`, by role. */
  checksums: Record<string, string>;
  sizeBytes: number;
  /** Free-form facts about how it was built (kernel version, packages…). */
  details: JsonObject;
}

export function imageDir(home: HeyoHome, backend: BackendName, name: string): string {
  return join(home.images, backend, name);
}

export function readManifest(dir: string): ImageManifest | undefined {
  const raw = readJsonFile(join(dir, IMAGE_MANIFEST));
  if (!raw) return undefined;
  const name = str(raw, "name");
  const backend = str(raw, "backend");
  if (!name || !backend) return undefined;
  const strings = (value: unknown): Record<string, string> =>
    isObject(value) ? Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === "string")) : {};
  return {
    name,
    backend: backend as BackendName,
    createdAt: str(raw, "createdAt") ?? "",
    files: strings(raw.files),
    checksums: strings(raw.checksums),
    sizeBytes: num(raw, "sizeBytes") ?? 0,
    details: isObject(raw.details) ? raw.details : {},
  };
}

export interface ImageEntry {
  backend: string;
  name: string;
  dir: string;
  manifest: ImageManifest | undefined;
  createdAt: string;
  sizeBytes: number;
}

/** Every image folder under images/, with its manifest when it has a readable one. */
export function listImages(home: HeyoHome): ImageEntry[] {
  const entries: ImageEntry[] = [];
  if (!existsSync(home.images)) return entries;
  for (const backend of readdirSync(home.images)) {
    const backendDir = join(home.images, backend);
    if (backend.startsWith(".") || !statSync(backendDir).isDirectory()) continue; // .cache
    for (const name of readdirSync(backendDir)) {
      if (name.startsWith(".")) continue; // builds in progress, retired copies
      const dir = join(backendDir, name);
      if (!statSync(dir).isDirectory()) continue;
      const manifest = readManifest(dir);
      entries.push({
        backend,
        name,
        dir,
        manifest,
        createdAt: manifest?.createdAt ?? statSync(dir).mtime.toISOString(),
        sizeBytes: manifest?.sizeBytes ?? 0,
      });
    }
  }
  return entries.sort((a, b) => a.backend.localeCompare(b.backend) || a.name.localeCompare(b.name));
}

/** Prefix of an image folder a rebuild replaced while it may still be in use (see replaceImageDir). */
const RETIRED = ".retired-";

/**
 * Puts a freshly built image folder in place of target. The folder it replaces is renamed aside,
 * not deleted: a running sandbox may still read it (bubblewrap binds its root folder; QEMU holds
 * its disk open). Returns that retired folder, if there was one.
 */
export function replaceImageDir(target: string, built: string): string | undefined {
  let retired: string | undefined;
  if (existsSync(target)) {
    retired = join(dirname(target), `${RETIRED}${basename(target)}-${randomBytes(4).toString("hex")}`);
    renameSync(target, retired);
  }
  renameSync(built, target);
  return retired;
}

/** The retired copies of an image (older builds of that name). */
export function retiredCopies(home: HeyoHome, backend: string, name: string): string[] {
  const dir = join(home.images, backend);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((entry) => entry.startsWith(`${RETIRED}${name}-`) && entry.length === RETIRED.length + name.length + 9).map((entry) => join(dir, entry));
}

/** Deletes retired copies of an image (once no running sandbox can be using them). */
export function dropRetiredCopies(home: HeyoHome, backend: string, name: string): void {
  for (const dir of retiredCopies(home, backend, name)) rmSync(dir, { recursive: true, force: true });
}
