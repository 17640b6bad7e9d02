// Reading a growing log file from an offset (logs -f, the cloud's log route, a VM's serial
// console), and keeping its last lines.
import { closeSync, openSync, readSync, statSync } from "node:fs";

/**
 * The text from `offset` to the end of the file (at most maxBytes) and the offset after it;
 * undefined when the file does not exist. A file shorter than offset (truncated) ends at its size.
 */
export function readFrom(path: string, offset: number, maxBytes = Number.POSITIVE_INFINITY): { text: string; end: number } | undefined {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return undefined;
  }
  if (size <= offset) return { text: "", end: size };
  const fd = openSync(path, "r");
  try {
    const buffer = Buffer.alloc(Math.min(size - offset, maxBytes));
    const read = readSync(fd, buffer, 0, buffer.length, offset);
    return { text: buffer.subarray(0, read).toString("utf8"), end: offset + read };
  } finally {
    closeSync(fd);
  }
}

/** The last `count` lines of text (a trailing newline does not count as a line). */
export function lastLines(text: string, count: number): string {
  const lines = text.split("\n");
  const trailing = lines[lines.length - 1] === "" ? 1 : 0;
  return lines.slice(-(count + trailing)).join("\n");
}
