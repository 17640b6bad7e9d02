// Archives that cost far more unpacked than uploaded, built without ever holding the unpacked
// bytes: gzip allows members to be concatenated, so one member of 16 MiB of zeros (about 16 KB
// compressed) repeated makes gigabytes of zeros from megabytes of upload.
import { gzipSync } from "node:zlib";
import { entryHeader } from "./cloud-tar.js";

const MEMBER_BYTES = 16 * 1024 * 1024;
let zeroMember: Buffer | undefined;

function zeros(): Buffer {
  zeroMember ??= gzipSync(Buffer.alloc(MEMBER_BYTES), { level: 9 });
  return zeroMember;
}

/** One tar header block (ustar) for a file, folder or link, with an explicit size. */
export function tarHeader(path: string, size: number, type: "0" | "2" | "5" = "0", linkpath = ""): Buffer {
  return entryHeader({ path, type: type === "5" ? "dir" : type === "2" ? "symlink" : "file", linkpath }, size);
}

/** gzip of `gib` GiB of zeros (no tar structure at all: two zero blocks are an end marker). */
export function zerosBomb(gib: number): Buffer {
  const members = Math.ceil((gib * 1024 ** 3) / MEMBER_BYTES);
  return Buffer.concat(Array.from({ length: members }, zeros));
}

/** A tar.gz whose one file, workspace/zeros, holds `gib` GiB of zeros. */
export function zeroFileBomb(gib: number): Buffer {
  const size = Math.round(gib * 1024 ** 3);
  const members = Math.ceil(size / MEMBER_BYTES);
  // the zeros are the file's data, then its padding and the end marker (zeros too)
  return Buffer.concat([gzipSync(tarHeader("workspace/zeros", size)), ...Array.from({ length: members + 1 }, zeros)]);
}

/** A tar.gz of `count` empty files (workspace/f<i>): a flood of entries. */
export function manyEntries(count: number): Buffer {
  const blocks: Buffer[] = [];
  for (let i = 0; i < count; i++) blocks.push(tarHeader(`workspace/f${i}`, 0));
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks), { level: 1 });
}

/** A tar.gz of `files` files of `gibEach` GiB of zeros each: every header honest, the total past any sane limit. */
export function zeroFilesBomb(files: number, gibEach: number): Buffer {
  const size = Math.round(gibEach * 1024 ** 3);
  const members = Math.ceil(size / MEMBER_BYTES);
  const parts: Buffer[] = [];
  for (let i = 0; i < files; i++) {
    parts.push(gzipSync(tarHeader(`workspace/zeros${i}`, members * MEMBER_BYTES)));
    for (let m = 0; m < members; m++) parts.push(zeros());
  }
  parts.push(gzipSync(Buffer.alloc(1024)));
  return Buffer.concat(parts);
}
