// Workspace archives come from clients and are not trusted: every entry must sit under
// workspace/, be a plain file, folder, or link that stays inside, and never go through a link.
// Checked once when the archive is finalized (so the client hears at once) and again, entry by
// entry, while it is extracted (node-tar's own path guards are on too, in strict mode).
// Entries keep their permission bits but never setuid, setgid or sticky.
import { errorMessage } from "../shared/errors.js";
import { mkdirSync, rmSync } from "node:fs";
import { posix } from "node:path";
import { list, extract, type ReadEntry } from "tar";
import { ARCHIVE_ROOT } from "../cloud/schema.js";
import type { ServerConfig } from "./config.js";

export interface ExtractLimits {
  /** Total size of the files once extracted. */
  maxBytes: number;
  maxEntries: number;
}

/** The archive breaks a rule; the message says which entry and why (answered as 422). */
/** The limits an archive is held to on this server (maxEntries against a flood of tiny files). */
export function extractLimitsOf(config: Pick<ServerConfig, "maxExtractedBytes">): ExtractLimits {
  return { maxBytes: config.maxExtractedBytes, maxEntries: 1_000_000 };
}

export class ArchiveRejectedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ArchiveRejectedError";
  }
}

const ALLOWED_TYPES = new Set(["File", "OldFile", "ContiguousFile", "Directory", "SymbolicLink", "Link"]);

/**
 * The read/write/execute bits only: setuid (04000), setgid (02000) and sticky (01000) are never
 * taken from an archive, or a 04755 entry would become a setuid-root file on the server.
 */
const PERMISSION_BITS = 0o777;

function escapes(relative: string): boolean {
  return relative === ".." || relative.startsWith("../") || posix.isAbsolute(relative);
}

/** Checks entries one after another; keeps what it needs (links seen, sizes) between them. */
export class EntryChecker {
  private readonly symlinks = new Set<string>();
  private readonly files = new Set<string>();
  private bytes = 0;
  private entries = 0;

  constructor(private readonly limits: ExtractLimits) {}

  /**
   * The first earlier symlink that resolving `target` from `from` walks through, if any: a
   * lexically harmless "x/y/z/../.." really goes wherever the link x/y/z leads.
   */
  private linkOnTheWay(from: string, target: string): string | undefined {
    const stack = from === "." ? [] : from.split("/");
    const steps = target.split("/").filter((p) => p !== "" && p !== ".");
    for (const [i, step] of steps.entries()) {
      if (step === "..") {
        stack.pop();
        continue;
      }
      stack.push(step);
      const here = stack.join("/");
      if (i < steps.length - 1 && this.symlinks.has(here)) return here;
    }
    return undefined;
  }

  /** Why this entry is refused, or undefined when it is fine. */
  problem(entry: Pick<ReadEntry, "path" | "type" | "linkpath" | "size">): string | undefined {
    const raw = entry.path;
    this.entries += 1;
    if (this.entries > this.limits.maxEntries) return `the archive has more than ${this.limits.maxEntries} entries`;
    if (raw.includes("\0")) return `entry name contains a NUL byte`;
    if (raw.startsWith("/")) return `entry ${JSON.stringify(raw)} has an absolute path`;
    const parts = raw.split("/").filter((p) => p !== "" && p !== ".");
    if (parts.includes("..")) return `entry ${JSON.stringify(raw)} climbs out with ".."`;
    if (parts[0] !== ARCHIVE_ROOT) return `entry ${JSON.stringify(raw)} is not under ${ARCHIVE_ROOT}/`;
    const relative = parts.slice(1).join("/");
    if (!ALLOWED_TYPES.has(entry.type)) return `entry ${JSON.stringify(raw)} is a ${entry.type}; only files, folders and links are accepted`;
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(1, i).join("/");
      if (prefix && this.symlinks.has(prefix)) return `entry ${JSON.stringify(raw)} goes through the symbolic link ${prefix}`;
    }
    if (entry.type === "SymbolicLink") {
      const target = entry.linkpath ?? "";
      if (!target || posix.isAbsolute(target)) return `symbolic link ${JSON.stringify(raw)} points to the absolute path ${JSON.stringify(target)}`;
      const resolved = posix.normalize(posix.join(posix.dirname(relative || "."), target));
      if (escapes(resolved)) return `symbolic link ${JSON.stringify(raw)} points outside the workspace (${target})`;
      const through = this.linkOnTheWay(posix.dirname(relative || "."), target);
      if (through) return `symbolic link ${JSON.stringify(raw)} points through the symbolic link ${through} (links may not chain)`;
      this.symlinks.add(relative);
    } else if (entry.type === "Link") {
      const target = (entry.linkpath ?? "").split("/").filter((p) => p !== "" && p !== ".");
      if (target.includes("..") || target[0] !== ARCHIVE_ROOT || !this.files.has(target.slice(1).join("/"))) {
        return `hard link ${JSON.stringify(raw)} points to ${JSON.stringify(entry.linkpath)}, which is not a file of this archive`;
      }
    } else if (entry.type !== "Directory") {
      this.files.add(relative);
      this.bytes += entry.size ?? 0;
      if (this.bytes > this.limits.maxBytes) return `the archive unpacks to more than ${this.limits.maxBytes} bytes`;
    }
    if (entry.type !== "SymbolicLink" && this.symlinks.has(relative)) return `entry ${JSON.stringify(raw)} replaces the symbolic link of the same name`;
    return undefined;
  }
}

/** Lists the whole archive and refuses it if any entry breaks a rule; returns the entry count. */
export async function checkArchive(file: string, limits: ExtractLimits): Promise<number> {
  const checker = new EntryChecker(limits);
  let first: string | undefined;
  let count = 0;
  try {
    await list({
      file,
      strict: true,
      onReadEntry: (entry) => {
        count += 1;
        first ??= checker.problem(entry);
      },
    });
  } catch (error) {
    throw new ArchiveRejectedError(`the archive is not a readable tar.gz: ${errorMessage(error)}`);
  }
  if (first) throw new ArchiveRejectedError(first);
  return count;
}

/** Extracts workspace/… into dest (dest = /workspace); on any refused entry dest is emptied and it throws. */
export async function extractArchive(file: string, dest: string, limits: ExtractLimits): Promise<void> {
  mkdirSync(dest, { recursive: true });
  const checker = new EntryChecker(limits);
  let first: string | undefined;
  try {
    await extract({
      file,
      cwd: dest,
      strip: 1,
      strict: true,
      preservePaths: false,
      preserveOwner: false,
      unlink: false,
      filter: (_path, entry) => {
        if (!("type" in entry)) return false;
        const problem = checker.problem(entry);
        first ??= problem;
        if (entry.mode !== undefined) entry.mode &= PERMISSION_BITS; // node-tar creates the entry with this mode
        return problem === undefined && first === undefined;
      },
    });
  } catch (error) {
    first ??= `extraction failed: ${errorMessage(error)}`;
  }
  if (first) {
    rmSync(dest, { recursive: true, force: true });
    mkdirSync(dest, { recursive: true });
    throw new ArchiveRejectedError(first);
  }
}
