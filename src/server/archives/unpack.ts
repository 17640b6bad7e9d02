// One pass over a workspace archive, as a stream: read, gunzip (on libuv's pool), parse the tar
// headers, check every entry against the rules as it comes and, when unpacking, write it at once
// with plain synchronous file calls. Meant to run in a worker process (archive-worker.ts), so none
// of it is on the server's event loop. Nothing but the current header and the names of what was
// written is kept: file data goes from the decompressor to the disk. Symbolic links are made last,
// once the whole tree is known and checked, and folders get their own modes and times after that.
import {
  closeSync,
  constants,
  fchmodSync,
  futimesSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  rmSync,
  rmdirSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeSync,
  createReadStream,
} from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { Gunzip } from "minizlib";
import { errorMessage, isErrnoError } from "../../shared/errors.js";
import { EntryChecker, RuleBroken, type ExtractLimits } from "./rules.js";
import { TarFormatError, TarReader, type TarHeader } from "./tar-reader.js";

/**
 * The read/write/execute bits only: setuid (04000), setgid (02000) and sticky (01000) are never
 * taken from an archive, or a 04755 entry would become a setuid-root file on the server.
 */
export const PERMISSION_BITS = 0o777;

export interface ArchiveJob {
  /** check: read and judge the whole archive; extract: the same, writing it under dest. */
  op: "check" | "extract";
  file: string;
  dest?: string;
  limits: ExtractLimits;
}

export type ArchiveJobResult =
  | { ok: true; entries: number; bytes: number }
  /** The archive breaks a rule or is not a tar.gz: the message says which entry and why. */
  | { ok: false; rejected: string }
  /** Something else went wrong (the disk, a bug): not the client's fault. */
  | { ok: false; failure: string };

function parentOf(relative: string): string {
  const slash = relative.lastIndexOf("/");
  return slash === -1 ? "" : relative.slice(0, slash);
}

function depth(relative: string): number {
  let n = 0;
  for (let i = 0; i < relative.length; i++) if (relative.charCodeAt(i) === 0x2f) n++;
  return n;
}

const CREATE_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const OPEN_FOLDER = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** The bits the process umask takes away (modes given to open and mkdir lose them anyway). */
function umaskOf(dest: string): number {
  const probe = join(dest, `.heyvm-umask-${process.pid}`);
  mkdirSync(probe, { mode: 0o777 });
  try {
    return 0o777 & ~(statSync(probe).mode & 0o777);
  } finally {
    rmdirSync(probe);
  }
}

/** Writes the accepted entries under dest, which starts empty. Never follows a link it did not make. */
class TreeWriter {
  private fd: number | undefined;
  private mtime: number | undefined;
  private readonly made = new Set<string>([""]);
  private readonly folders: Array<{ relative: string; mode: number; mtime: number | undefined }> = [];
  private readonly umask: number;

  constructor(private readonly dest: string) {
    this.umask = umaskOf(dest);
  }

  private path(relative: string): string {
    return relative === "" ? this.dest : join(this.dest, relative);
  }

  private ensureFolder(relative: string, mode = 0o755): void {
    if (this.made.has(relative)) return;
    this.ensureFolder(parentOf(relative));
    try {
      mkdirSync(this.path(relative), { mode });
    } catch (error) {
      if (!isErrnoError(error) || error.code !== "EEXIST" || !lstatSync(this.path(relative)).isDirectory()) throw error;
    }
    this.made.add(relative);
  }

  folder(relative: string, header: TarHeader): void {
    if (relative === "") return; // the workspace folder itself is the server's
    this.ensureFolder(relative, (header.mode & PERMISSION_BITS) | 0o700);
    this.folders.push({ relative, mode: header.mode & PERMISSION_BITS, mtime: header.mtime });
  }

  /** Creates path with create(), replacing a plain file an earlier entry of the same name left. */
  private replacing(relative: string, create: (path: string) => void): void {
    const path = this.path(relative);
    try {
      create(path);
    } catch (error) {
      if (!isErrnoError(error) || error.code !== "EEXIST" || !lstatSync(path).isFile()) throw error;
      unlinkSync(path);
      create(path);
    }
  }

  beginFile(relative: string, header: TarHeader): void {
    this.ensureFolder(parentOf(relative));
    this.replacing(relative, (path) => (this.fd = openSync(path, CREATE_FILE, header.mode & PERMISSION_BITS)));
    this.mtime = header.mtime;
  }

  data(chunk: Buffer): void {
    if (this.fd === undefined) return;
    let written = 0;
    while (written < chunk.length) written += writeSync(this.fd, chunk, written, chunk.length - written);
  }

  endFile(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      if (this.mtime !== undefined) futimesSync(fd, Date.now() / 1000, this.mtime);
    } finally {
      closeSync(fd);
    }
  }

  hardLink(relative: string, target: string): void {
    this.ensureFolder(parentOf(relative));
    this.replacing(relative, (path) => linkSync(this.path(target), path));
  }

  /** The symbolic links, then each folder's own mode and time (deepest first). */
  finish(links: Array<[string, string]>): void {
    for (const [relative, target] of links) {
      this.ensureFolder(parentOf(relative));
      symlinkSync(target, this.path(relative));
    }
    this.folders.sort((a, b) => depth(b.relative) - depth(a.relative));
    for (const folder of this.folders) {
      const fd = openSync(this.path(folder.relative), OPEN_FOLDER);
      try {
        fchmodSync(fd, folder.mode & ~this.umask);
        if (folder.mtime !== undefined) futimesSync(fd, Date.now() / 1000, folder.mtime);
      } finally {
        closeSync(fd);
      }
    }
  }

  abandon(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

function isGzip(file: string): boolean {
  const fd = openSync(file, "r");
  try {
    const magic = Buffer.alloc(2);
    return readSync(fd, magic, 0, 2, 0) === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
  } finally {
    closeSync(fd);
  }
}

function isZlibError(error: unknown): boolean {
  return isErrnoError(error) && typeof error.code === "string" && error.code.startsWith("Z_");
}

/** Runs one job to the end; the archive's faults come back as `rejected`, never thrown. */
export async function runArchiveJob(job: ArchiveJob): Promise<ArchiveJobResult> {
  const checker = new EntryChecker(job.limits);
  let writer: TreeWriter | undefined;
  let current: "file" | "skip" = "skip";
  let bytes = 0;
  try {
    if (job.op === "extract") {
      if (!job.dest) throw new Error("extract needs a destination");
      mkdirSync(job.dest, { recursive: true });
      writer = new TreeWriter(job.dest);
    }
    const out = writer;
    const reader = new TarReader({
      entry(header) {
        const placed = checker.place(header);
        bytes += header.size;
        current = "skip";
        if (!out) return;
        if (header.type === "Directory") out.folder(placed.relative, header);
        else if (header.type === "Link") out.hardLink(placed.relative, placed.linkTarget ?? "");
        else if (header.type === "File" || header.type === "ContiguousFile") {
          out.beginFile(placed.relative, header);
          current = "file";
        }
      },
      data(chunk) {
        if (current === "file") out?.data(chunk);
      },
      entryEnd() {
        if (current === "file") out?.endFile();
        current = "skip";
      },
    });
    if (job.op === "check") feedSync(job.file, reader);
    else await feedStreaming(job.file, reader);
    reader.end();
    const problem = checker.finalProblem();
    if (problem) throw new RuleBroken(problem);
    writer?.finish(checker.links());
    return { ok: true, entries: checker.entryCount, bytes };
  } catch (error) {
    writer?.abandon();
    if (job.op === "extract" && job.dest) {
      rmSync(job.dest, { recursive: true, force: true });
      mkdirSync(job.dest, { recursive: true });
    }
    if (error instanceof RuleBroken) return { ok: false, rejected: error.message };
    if (error instanceof TarFormatError || isZlibError(error)) return { ok: false, rejected: `the archive is not a readable tar.gz: ${errorMessage(error)}` };
    return { ok: false, failure: errorMessage(error) };
  }
}

/**
 * The most an archive may unpack to per byte uploaded, once past MIN_BYTES_FOR_RATIO: deflate
 * cannot go much beyond 1032:1, so only an archive of (almost) nothing but repeated bytes, a
 * decompression bomb, gets there. node-tar, which unpacked archives before, had the same bound.
 */
const MAX_RATIO = 1000;
const MIN_BYTES_FOR_RATIO = 32 * 1024 * 1024;

/** Counts what goes in and comes out of gunzip, and refuses a bomb long before the size limit. */
class RatioGuard {
  private out = 0;
  constructor(private readonly compressedSoFar: () => number) {}
  add(chunk: Buffer): void {
    this.out += chunk.length;
    if (this.out > MIN_BYTES_FOR_RATIO && this.out > this.compressedSoFar() * MAX_RATIO) {
      throw new RuleBroken(`the archive unpacks to more than ${MAX_RATIO} times its size (a decompression bomb)`);
    }
  }
}

/** How much compressed input the synchronous check decompresses at a time (at most about 8 MiB out). */
const SYNC_PIECE_BYTES = 8 * 1024;

/**
 * Feeds the archive to the reader in this thread alone, gunzip included (a check: nothing to
 * write, so nothing to overlap; and all of its cost then sits in this thread, which the worker
 * runs at a low priority, so a bomb being refused takes no CPU from the server's requests).
 */
function feedSync(file: string, reader: TarReader): void {
  const fd = openSync(file, "r");
  try {
    const gunzip = isGzip(file) ? new Gunzip({}) : undefined;
    let more = true;
    let compressed = 0;
    let refused: unknown;
    const ratio = new RatioGuard(() => compressed);
    gunzip?.on("data", (chunk: Buffer) => {
      if (!more || refused !== undefined) return;
      try {
        ratio.add(chunk);
        more = reader.write(chunk);
      } catch (error) {
        refused = error;
      }
    });
    gunzip?.on("error", (error: unknown) => (refused ??= error));
    // small pieces: the decompressor hands back all a piece unpacks to at once (a bomb's piece x1000)
    const buffer = Buffer.alloc(SYNC_PIECE_BYTES);
    while (more) {
      const read = readSync(fd, buffer, 0, buffer.length, null);
      if (read === 0) break;
      compressed += read;
      const chunk = Buffer.from(buffer.subarray(0, read));
      if (gunzip) gunzip.write(chunk);
      else more = reader.write(chunk);
      if (refused !== undefined) break;
    }
    if (more && refused === undefined) gunzip?.end();
    // past the end marker, what gunzip thinks of the rest (trailing bytes) does not matter
    if (refused !== undefined && !(reader.done && isZlibError(refused))) throw refused;
  } finally {
    closeSync(fd);
  }
}

/** Feeds the archive to the reader as a stream: gunzip on libuv's pool, overlapping the writes. */
async function feedStreaming(file: string, reader: TarReader): Promise<void> {
  const source = createReadStream(file, { highWaterMark: 1 << 20 });
  const gzip = isGzip(file);
  const ratio = new RatioGuard(() => source.bytesRead);
  let refused: unknown;
  const consume = async (stream: AsyncIterable<Buffer>) => {
    try {
      for await (const chunk of stream) {
        if (gzip) ratio.add(chunk);
        if (!reader.write(chunk)) return; // the end marker: stop reading
      }
    } catch (error) {
      refused = error; // the pipeline itself reports the streams it then aborts
      throw error;
    }
  };
  try {
    if (gzip) await pipeline(source, createGunzip({ chunkSize: 1 << 18 }), consume);
    else await pipeline(source, consume);
  } catch (error) {
    if (refused !== undefined) throw refused;
    if (!reader.done) throw error; // past the end marker, only the stopped reading complains
  }
}
