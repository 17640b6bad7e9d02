// Hand-made tar.gz archives for the tests, including the malicious ones no well-behaved tool
// would write (entries with "..", absolute paths, links pointing out).
import { gzipSync } from "node:zlib";

export interface TarEntry {
  path: string;
  type?: "file" | "dir" | "symlink" | "hardlink" | "fifo";
  content?: string;
  linkpath?: string;
  /** Permission bits as the archive states them (0755 for folders, 0644 for the rest if left out). */
  mode?: number;
}

const TYPE_FLAGS = { file: "0", hardlink: "1", symlink: "2", fifo: "6", dir: "5" } as const;

function header(entry: TarEntry, size: number): Buffer {
  const block = Buffer.alloc(512);
  const put = (text: string, offset: number, length: number) => block.write(text, offset, length, "utf8");
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, "0");
  put(entry.path, 0, 100);
  put(octal(entry.mode ?? (entry.type === "dir" ? 0o755 : 0o644), 8), 100, 7);
  put(octal(0, 8), 108, 7);
  put(octal(0, 8), 116, 7);
  put(octal(size, 12), 124, 11);
  put(octal(Math.floor(Date.now() / 1000), 12), 136, 11);
  put("        ", 148, 8);
  put(TYPE_FLAGS[entry.type ?? "file"], 156, 1);
  put(entry.linkpath ?? "", 157, 100);
  put("ustar", 257, 6);
  put("00", 263, 2);
  let sum = 0;
  for (const byte of block) sum += byte;
  put(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8);
  return block;
}

export function makeTarGz(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const data = Buffer.from(entry.type === undefined || entry.type === "file" ? (entry.content ?? "") : "");
    parts.push(header(entry, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(parts));
}
