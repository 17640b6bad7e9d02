// Checks a VM image before it is booted: the manifest must name files that exist with the
// checksums recorded at build time. Hashing a few hundred MB costs about a second, so a passed
// check is remembered (size + mtime of each file) and repeated only when a file changed.
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../../shared/errors.js";
import { readManifest, type ImageManifest } from "../store.js";
import { sha256File } from "./build.js";

const VERIFIED_STAMP = ".verified.json";

export class CorruptImageError extends UserError {
  constructor(name: string, detail: string) {
    super(`image "${name}" is damaged: ${detail}`, { hint: `remove it with \`heyvm images rm ${name}\` (the default image is rebuilt on next use) and build it again`, exitCode: 6 });
    this.name = "CorruptImageError";
  }
}

function fingerprint(dir: string, manifest: ImageManifest): string {
  return JSON.stringify(Object.values(manifest.files).map((file) => {
    const stat = statSync(join(dir, file));
    return [file, stat.size, stat.mtimeMs];
  }));
}

/** Records that an image's files were just checked (a build that computed their checksums itself). */
export function markVerified(dir: string, manifest: ImageManifest): void {
  writeFileSync(join(dir, VERIFIED_STAMP), fingerprint(dir, manifest));
}

/** Returns the manifest of a sound image; throws CorruptImageError naming what is wrong. */
export async function verifyVmImage(dir: string, name: string): Promise<ImageManifest> {
  const manifest = readManifest(dir);
  if (!manifest) throw new CorruptImageError(name, `no readable image.json in ${dir}`);
  for (const [role, file] of Object.entries(manifest.files)) {
    if (!existsSync(join(dir, file))) throw new CorruptImageError(name, `its ${role} file ${file} is missing`);
  }
  const stampPath = join(dir, VERIFIED_STAMP);
  const current = fingerprint(dir, manifest);
  if (existsSync(stampPath) && readFileSync(stampPath, "utf8") === current) return manifest;
  for (const [role, file] of Object.entries(manifest.files)) {
    const expected = manifest.checksums[role];
    if (!expected) throw new CorruptImageError(name, `image.json has no checksum for ${file}`);
    if ((await sha256File(join(dir, file))) !== expected) throw new CorruptImageError(name, `${file} does not match its recorded checksum`);
  }
  writeFileSync(stampPath, current);
  return manifest;
}
