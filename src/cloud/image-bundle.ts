// A built image folder as the one file the cloud's image registry takes: a tar.gz of image.json
// and the files it names (flat, regular files only), with its size and sha256 for the presign.
import { createHash } from "node:crypto";
import { createReadStream, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { create } from "tar";
import { OperationFailedError } from "../shared/errors.js";

export const BUNDLE_MANIFEST = "image.json";

export interface ImageBundle {
  path: string;
  sizeBytes: number;
  sha256: string;
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Packs imageDir's image.json and the files it names into out (gzip level 1: disks are large). */
export async function packImageBundle(imageDir: string, out: string): Promise<ImageBundle> {
  let files: string[];
  try {
    const manifest = JSON.parse(readFileSync(join(imageDir, BUNDLE_MANIFEST), "utf8")) as { files?: Record<string, string> };
    files = Object.values(manifest.files ?? {});
  } catch {
    throw new OperationFailedError(`${imageDir} has no readable ${BUNDLE_MANIFEST}`);
  }
  for (const file of files) if (file.includes("/") || !statSync(join(imageDir, file)).isFile()) throw new OperationFailedError(`${file} of ${imageDir} is not a plain file (only VM images can be published)`);
  await create({ file: out, cwd: imageDir, gzip: { level: 1 }, portable: true, noDirRecurse: true }, [BUNDLE_MANIFEST, ...files]);
  return { path: out, sizeBytes: statSync(out).size, sha256: await sha256Of(out) };
}
