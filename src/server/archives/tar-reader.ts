// A streaming tar reader for untrusted archives: fed decompressed bytes chunk by chunk, it hands
// each entry's header and then its data to a sink, holding nothing but the current header (and a
// bounded extended header) in memory. It understands ustar, GNU long names and pax extended
// headers, and it stops at the archive's end marker, so whatever a bomb hides after it is never
// decompressed. Sizes are exact: every byte read is a header, an entry's data or its padding.

/** The entry kinds, named as node-tar names them (the messages of refused archives use these). */
export type TarEntryType =
  | "File"
  | "ContiguousFile"
  | "Link"
  | "SymbolicLink"
  | "CharacterDevice"
  | "BlockDevice"
  | "Directory"
  | "FIFO"
  | "SparseFile"
  | "GNUDumpDir"
  | "MultiVolume"
  | "VolumeLabel"
  | "Unsupported";

export interface TarHeader {
  path: string;
  type: TarEntryType;
  linkpath: string;
  /** Bytes of data that follow the header. */
  size: number;
  mode: number;
  /** Seconds since the epoch; undefined when the archive leaves it out (node-tar's portable folders). */
  mtime: number | undefined;
}

export interface TarSink {
  /** A new entry; its data (size bytes) follows through data(). Throw to refuse the archive. */
  entry(header: TarHeader): void;
  data(chunk: Buffer): void;
  /** The current entry's data is complete. */
  entryEnd(): void;
}

/** The bytes are not a tar archive, or one cut short (reported as a refused archive). */
export class TarFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TarFormatError";
  }
}

const BLOCK = 512;

const TYPES: Record<string, TarEntryType> = {
  "0": "File",
  "\0": "File",
  "7": "ContiguousFile",
  "1": "Link",
  "2": "SymbolicLink",
  "3": "CharacterDevice",
  "4": "BlockDevice",
  "5": "Directory",
  "6": "FIFO",
  S: "SparseFile",
  D: "GNUDumpDir",
  M: "MultiVolume",
  V: "VolumeLabel",
};

/** Header types that describe the next entry rather than being one. */
const META_TYPES = new Set(["x", "g", "L", "K"]);

/** At most this many extended headers may come before one entry. */
const MAX_META_IN_A_ROW = 8;

interface Pending {
  path?: string;
  linkpath?: string;
  size?: number;
  mtime?: number;
  sparse?: boolean;
}

function cString(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString("utf8");
}

function isBlank(block: Buffer, start: number, length: number): boolean {
  for (let i = start; i < start + length; i++) if (block[i] !== 0 && block[i] !== 0x20) return false;
  return true;
}

/** An octal (or, GNU style, base-256) number field. */
function numberField(block: Buffer, start: number, length: number, what: string): number {
  const field = block.subarray(start, start + length);
  const first = field[0] ?? 0;
  if (first & 0x80) {
    if (first === 0xff) throw new TarFormatError(`a header's ${what} is negative`);
    let value = first & 0x7f;
    for (const byte of field.subarray(1)) value = value * 256 + byte;
    if (!Number.isSafeInteger(value)) throw new TarFormatError(`a header's ${what} is too large`);
    return value;
  }
  const text = field.toString("latin1").replace(/\0.*$/s, "").trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`a header's ${what} is not a number (${JSON.stringify(text)})`);
  return parseInt(text, 8);
}

function checksumMatches(block: Buffer): boolean {
  const stored = numberField(block, 148, 8, "checksum");
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** The records of a pax extended header ("<length> <key>=<value>\n" each). */
function parsePax(body: Buffer, into: Pending): void {
  let at = 0;
  while (at < body.length) {
    if (body[at] === 0) break; // some writers pad the header with NULs
    const space = body.indexOf(0x20, at);
    const length = space === -1 ? NaN : Number(body.subarray(at, space).toString("latin1"));
    if (!Number.isInteger(length) || length <= space - at || at + length > body.length) throw new TarFormatError("a pax extended header is malformed");
    const record = body.subarray(space + 1, at + length - 1).toString("utf8");
    at += length;
    const equals = record.indexOf("=");
    if (equals <= 0) throw new TarFormatError("a pax extended header is malformed");
    const key = record.slice(0, equals);
    const value = record.slice(equals + 1);
    if (key === "path") into.path = value;
    else if (key === "linkpath") into.linkpath = value;
    else if (key === "size") {
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new TarFormatError(`a pax header's size is not a number (${JSON.stringify(value)})`);
      into.size = Number(value);
    } else if (key === "mtime") {
      const seconds = Number(value);
      if (Number.isFinite(seconds)) into.mtime = seconds;
    } else if (key.startsWith("GNU.sparse.")) into.sparse = true;
  }
}

type State =
  | { kind: "header" }
  | { kind: "data"; remaining: number; padding: number }
  | { kind: "meta"; type: string; remaining: number; padding: number; parts: Buffer[] }
  | { kind: "done" };

export class TarReader {
  private state: State = { kind: "header" };
  private readonly header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private zeroBlocks = 0;
  private sawEntry = false;
  private pending: Pending = {};
  private metaInARow = 0;

  constructor(
    private readonly sink: TarSink,
    /** Largest extended header (pax or GNU long name) accepted. */
    private readonly maxMetaBytes = 1 << 20,
  ) {}

  /** Whether the end-of-archive marker has been read (nothing more needs to be fed). */
  get done(): boolean {
    return this.state.kind === "done";
  }

  /** Feeds the next decompressed bytes; returns false once the archive has ended. */
  write(chunk: Buffer): boolean {
    let at = 0;
    while (at < chunk.length && this.state.kind !== "done") {
      const state = this.state;
      if (state.kind === "header") {
        const take = Math.min(BLOCK - this.headerFill, chunk.length - at);
        chunk.copy(this.header, this.headerFill, at, at + take);
        this.headerFill += take;
        at += take;
        if (this.headerFill === BLOCK) {
          this.headerFill = 0;
          this.onHeader();
        }
      } else if (state.kind === "data") {
        if (state.remaining > 0) {
          const take = Math.min(state.remaining, chunk.length - at);
          this.sink.data(chunk.subarray(at, at + take));
          state.remaining -= take;
          at += take;
          if (state.remaining === 0) this.sink.entryEnd();
        } else {
          const skip = Math.min(state.padding, chunk.length - at);
          state.padding -= skip;
          at += skip;
        }
        if (state.remaining === 0 && state.padding === 0) this.state = { kind: "header" };
      } else if (state.kind === "meta") {
        if (state.remaining > 0) {
          const take = Math.min(state.remaining, chunk.length - at);
          state.parts.push(Buffer.from(chunk.subarray(at, at + take)));
          state.remaining -= take;
          at += take;
        } else {
          const skip = Math.min(state.padding, chunk.length - at);
          state.padding -= skip;
          at += skip;
        }
        if (state.remaining === 0 && state.padding === 0) {
          this.onMeta(state.type, Buffer.concat(state.parts));
          this.state = { kind: "header" };
        }
      }
    }
    return this.state.kind !== "done";
  }

  /** The input ended: an entry cut short, or bytes that never made a tar archive, are refused. */
  end(): void {
    const state = this.state;
    if (state.kind === "done") return;
    if (state.kind === "data" && state.remaining > 0) throw new TarFormatError("the archive is cut short in the middle of an entry");
    if (state.kind === "meta") throw new TarFormatError("the archive is cut short in an extended header");
    if (this.headerFill > 0) throw new TarFormatError("the archive is cut short in a header");
    if (!this.sawEntry && this.zeroBlocks === 0) throw new TarFormatError("the archive is empty (not even an end marker)");
    this.state = { kind: "done" };
  }

  private onHeader(): void {
    const block = this.header;
    if (isZeroBlock(block)) {
      this.zeroBlocks += 1;
      if (this.zeroBlocks === 2) this.state = { kind: "done" };
      return;
    }
    this.zeroBlocks = 0;
    if (!checksumMatches(block)) throw new TarFormatError("a header's checksum is wrong (not a tar archive, or a damaged one)");
    const flag = String.fromCharCode(block[156] ?? 0);
    const size = numberField(block, 124, 12, "size");
    const padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (META_TYPES.has(flag)) {
      this.metaInARow += 1;
      if (this.metaInARow > MAX_META_IN_A_ROW) throw new TarFormatError(`more than ${MAX_META_IN_A_ROW} extended headers in a row`);
      if (size > this.maxMetaBytes) throw new TarFormatError(`an extended header of ${size} bytes (at most ${this.maxMetaBytes} are accepted)`);
      this.state = { kind: "meta", type: flag, remaining: size, padding, parts: [] };
      if (size === 0) {
        this.onMeta(flag, Buffer.alloc(0));
        this.state = { kind: "header" };
      }
      return;
    }
    this.metaInARow = 0;
    const magic = block.subarray(257, 263).toString("latin1");
    const prefix = magic === "ustar\0" ? cString(block, 345, 155) : "";
    const name = cString(block, 0, 100);
    const pending = this.pending;
    this.pending = {};
    let type: TarEntryType = TYPES[flag] ?? "Unsupported";
    const path = pending.path ?? (prefix ? `${prefix}/${name}` : name);
    if (type === "File" && flag === "\0" && path.endsWith("/")) type = "Directory"; // old v7 folders
    if (pending.sparse) type = "SparseFile";
    const header: TarHeader = {
      path,
      type,
      linkpath: pending.linkpath ?? cString(block, 157, 100),
      size: pending.size ?? size,
      mode: numberField(block, 100, 8, "mode") & 0o7777,
      mtime: pending.mtime ?? (isBlank(block, 136, 12) ? undefined : numberField(block, 136, 12, "mtime")),
    };
    this.sawEntry = true;
    this.sink.entry(header);
    const dataPadding = (BLOCK - (header.size % BLOCK)) % BLOCK;
    if (header.size === 0) {
      this.sink.entryEnd();
      this.state = dataPadding === 0 ? { kind: "header" } : { kind: "data", remaining: 0, padding: dataPadding };
    } else {
      this.state = { kind: "data", remaining: header.size, padding: dataPadding };
    }
  }

  private onMeta(type: string, body: Buffer): void {
    if (type === "x") parsePax(body, this.pending);
    else if (type === "L") this.pending.path = body.toString("utf8").replace(/\0+$/, "");
    else if (type === "K") this.pending.linkpath = body.toString("utf8").replace(/\0+$/, "");
    // "g" (pax global header, e.g. git archive's commit id): nothing in it applies to the entries
  }
}
