// Archives that cost far more unpacked than uploaded, built without ever holding the unpacked
// bytes: gzip allows members to be concatenated, so one member of 16 MiB of zeros (about 16 KB
// compressed) repeated makes gigabytes of zeros from megabytes of upload.
import { gzipSync } from "node:zlib";

const MEMBER_BYTES = 16 * 1024 * 1024;
let zeroMember: Buffer | undefined;

function zeros(): Buffer {
  zeroMember ??= gzipSync(Buffer.alloc(MEMBER_BYTES), { level: 9 });
  return zeroMember;
}

/** One tar header block (ustar) for a file, folder or link, with an explicit size. */
export function tarHeader(path: string, size: number, type: "0" | "2" | "5" = "0", linkpath = ""): Buffer {
  const block = Buffer.alloc(512);
  const put = (text: string, offset: number, length: number) => block.write(text, offset, length, "utf8");
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, "0");
  put(path, 0, 100);
  put(octal(type === "5" ? 0o755 : 0o644, 8), 100, 7);
  put(octal(0, 8), 108, 7);
  put(octal(0, 8), 116, 7);
  put(octal(size, 12), 124, 11);
  put(octal(1_700_000_000, 12), 136, 11);
  put("        ", 148, 8);
  put(type, 156, 1);
  put(linkpath, 157, 100);
  put("ustar", 257, 6);
  put("00", 263, 2);
  let sum = 0;
  for (const byte of block) sum += byte;
  put(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8);
  return block;
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
