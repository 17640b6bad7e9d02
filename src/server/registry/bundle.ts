// Image bundles come from clients and are not trusted: a tar.gz of image.json plus the files it
// names, each a plain file with a plain name, nothing else, within the size limit; the files'
// sha256 must match what image.json records and the image must be of the backend it was
// presigned for; its root disk must be one standalone disk of the format image.json declares
// (disk-check.ts). Unpacked into a temporary folder that is renamed into place only when sound.
import { mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { extract } from "tar";
import { BUNDLE_MANIFEST } from "../../cloud/image-bundle.js";
import { errorMessage } from "../../shared/errors.js";
import { writeJsonFile } from "../../shared/json.js";
import { readManifest, type ImageManifest } from "../../images/store.js";
import { sha256File } from "../../images/vm/build.js";
import { ArchiveRejectedError } from "../archives/extract.js";
import { publishedDiskProblem } from "./disk-check.js";

const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const ROLES = new Set(["kernel", "initrd", "rootfs", "compressedKernel"]);
const MAX_ENTRIES = 8;

/**
 * Unpacks bundle into target (which must not exist yet) as an image named `name` for backend;
 * refuses (ArchiveRejectedError, answered as 422) anything but a sound image of that backend.
 */
export async function unpackImageBundle(bundle: string, target: string, expect: { backend: string; name: string; maxBytes: number }): Promise<ImageManifest> {
  const work = `${target}.unpack`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    let problem: string | undefined;
    let bytes = 0;
    let entries = 0;
    const seen = new Set<string>();
    try {
      await extract({
        file: bundle,
        cwd: work,
        strict: true,
        preservePaths: false,
        preserveOwner: false,
        filter: (path, entry) => {
          if (!("type" in entry)) return false;
          entries += 1;
          const name = path.replace(/^\.\//, "");
          if (entries > MAX_ENTRIES) problem ??= `the bundle has more than ${MAX_ENTRIES} entries`;
          else if (entry.type !== "File" && entry.type !== "OldFile") problem ??= `entry ${JSON.stringify(path)} is a ${entry.type}; an image bundle holds plain files only`;
          else if (!PLAIN_NAME.test(name)) problem ??= `entry ${JSON.stringify(path)} is not a plain file name`;
          else if (seen.has(name)) problem ??= `entry ${JSON.stringify(path)} comes twice`;
          bytes += entry.size ?? 0;
          if (bytes > expect.maxBytes) problem ??= `the bundle unpacks to more than ${expect.maxBytes} bytes`;
          seen.add(name);
          return problem === undefined;
        },
      });
    } catch (error) {
      problem ??= `the bundle is not a readable tar.gz: ${errorMessage(error)}`;
    }
    if (problem) throw new ArchiveRejectedError(problem);
    const manifest = readManifest(work);
    if (!manifest) throw new ArchiveRejectedError(`the bundle has no readable ${BUNDLE_MANIFEST}`);
    if (manifest.backend !== expect.backend) throw new ArchiveRejectedError(`the bundle is a ${manifest.backend} image, not ${expect.backend}`);
    const files = Object.entries(manifest.files);
    if (files.length === 0 || !manifest.files.rootfs || !manifest.files.kernel) throw new ArchiveRejectedError(`${BUNDLE_MANIFEST} names no kernel and root filesystem`);
    for (const [role, file] of files) {
      if (!ROLES.has(role) || !PLAIN_NAME.test(file) || !seen.has(file)) throw new ArchiveRejectedError(`${BUNDLE_MANIFEST} names ${role} ${JSON.stringify(file)}, which the bundle does not hold`);
      const sum = await sha256File(join(work, file));
      if (sum !== manifest.checksums[role]) throw new ArchiveRejectedError(`${file} does not match the sha256 ${BUNDLE_MANIFEST} records for it (tampered or damaged)`);
    }
    const diskProblem = await publishedDiskProblem(work, manifest, expect.backend);
    if (diskProblem) throw new ArchiveRejectedError(diskProblem);
    for (const name of seen) if (name !== BUNDLE_MANIFEST && !files.some(([, file]) => file === name)) rmSync(join(work, name), { force: true });
    const local: ImageManifest = { ...manifest, name: expect.name, details: { ...manifest.details, publishedAs: manifest.name } };
    writeJsonFile(join(work, BUNDLE_MANIFEST), local);
    mkdirSync(dirname(target), { recursive: true });
    renameSync(work, target);
    return local;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
