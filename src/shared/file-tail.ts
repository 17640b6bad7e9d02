// Reading a growing log file from an offset (logs -f, the cloud's log route, a VM's serial
// console), and keeping its last lines.
import { closeSync, openSync, readSync, statSync } from "node:fs";

/**
 * The bytes from `offset` to the end of the file (at most maxBytes) and the offset after them;
 * undefined when the file does not exist. A file shorter than offset (truncated) ends at its size.
 */
export function readBytesFrom(path: string, offset: number, maxBytes = Number.POSITIVE_INFINITY): { bytes: Buffer; end: number } | undefined {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return undefined;
  }
  if (size <= offset) return { bytes: Buffer.alloc(0), end: size };
  const fd = openSync(path, "r");
  try {
    const buffer = Buffer.alloc(Math.min(size - offset, maxBytes));
    const read = readSync(fd, buffer, 0, buffer.length, offset);
    return { bytes: buffer.subarray(0, read), end: offset + read };
  } finally {
    closeSync(fd);
  }
}

/** readBytesFrom, decoded as UTF-8 (for text heyvm reads itself, never shown raw). */
export function readFrom(path: string, offset: number, maxBytes = Number.POSITIVE_INFINITY): { text: string; end: number } | undefined {
  const chunk = readBytesFrom(path, offset, maxBytes);
  return chunk && { text: chunk.bytes.toString("utf8"), end: chunk.end };
}

/** The last `count` lines of text (a trailing newline does not count as a line). */
export function lastLines(text: string, count: number): string {
  const lines = text.split("\n");
  const trailing = lines[lines.length - 1] === "" ? 1 : 0;
  return lines.slice(-(count + trailing)).join("\n");
}

/** The bytes of the last `count` lines (a trailing newline does not count as a line), as lastLines cuts text. */
export function lastLinesBytes(bytes: Uint8Array, count: number): Uint8Array {
  let at = bytes.length;
  if (at > 0 && bytes[at - 1] === 0x0a) at -= 1;
  for (let seen = 0; at > 0; seen++) {
    const newline = bytes.lastIndexOf(0x0a, at - 1);
    if (newline === -1) return bytes;
    if (seen === count - 1) return bytes.subarray(newline + 1);
    at = newline;
  }
  return bytes;
}

/**
 * Where a chunk of a growing log may be cut so that no line is cut: after its last newline (all of
 * it when complete, or when it holds no newline at all: a line longer than the chunk).
 */
export function wholeLinesEnd(bytes: Uint8Array, complete: boolean): number {
  const last = bytes.lastIndexOf(0x0a);
  return complete || last === -1 ? bytes.length : last + 1;
}
