// What a workspace archive may hold, entry by entry and then as a whole: every entry under
// workspace/, a plain file, folder, or link that stays inside; nothing goes through a link or
// replaces one; and once the whole archive is known, no symbolic link's target passes through
// another link (checked against the final tree, so the order of the entries does not matter).
// Bounded: the entry count and the unpacked size are counted as the headers arrive.
import { posix } from "node:path";
import { ARCHIVE_ROOT } from "../../cloud/archive-layout.js";
import type { TarHeader } from "./tar-reader.js";

export interface ExtractLimits {
  /** Total size of the entries' data once unpacked. */
  maxBytes: number;
  maxEntries: number;
}

const ALLOWED_TYPES = new Set(["File", "ContiguousFile", "Directory", "SymbolicLink", "Link"]);

/** An accepted entry, placed: its path under the workspace ("" for the workspace folder itself). */
export interface PlacedEntry {
  relative: string;
  /** For a hard link: the linked file, under the workspace. */
  linkTarget?: string;
}

function escapes(relative: string): boolean {
  return relative === ".." || relative.startsWith("../") || posix.isAbsolute(relative);
}

function parentOf(relative: string): string {
  const slash = relative.lastIndexOf("/");
  return slash === -1 ? "" : relative.slice(0, slash);
}

/** Why an entry (or the archive) is refused. */
export class RuleBroken extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RuleBroken";
  }
}

export class EntryChecker {
  /** Symbolic links by workspace path: the entry's name as written, and its target. */
  private readonly symlinks = new Map<string, { raw: string; target: string }>();
  private readonly files = new Set<string>();
  private readonly dirs = new Set<string>([""]);
  private bytes = 0;
  private entries = 0;

  constructor(private readonly limits: ExtractLimits) {}

  get entryCount(): number {
    return this.entries;
  }

  /** Checks one entry; throws RuleBroken with the reason when it is refused. */
  place(entry: Pick<TarHeader, "path" | "type" | "linkpath" | "size">): PlacedEntry {
    const problem = this.problem(entry);
    if (problem) throw new RuleBroken(problem);
    const relative = this.relativeOf(entry.path);
    if (entry.type === "Link") return { relative, linkTarget: this.relativeOf(entry.linkpath) };
    return { relative };
  }

  private relativeOf(path: string): string {
    return path
      .split("/")
      .filter((p) => p !== "" && p !== ".")
      .slice(1)
      .join("/");
  }

  /** Why this entry is refused, or undefined when it is fine (and then it is recorded). */
  private problem(entry: Pick<TarHeader, "path" | "type" | "linkpath" | "size">): string | undefined {
    const raw = entry.path;
    const name = JSON.stringify(raw);
    this.entries += 1;
    if (this.entries > this.limits.maxEntries) return `the archive has more than ${this.limits.maxEntries} entries`;
    this.bytes += entry.size;
    if (this.bytes > this.limits.maxBytes) return `the archive unpacks to more than ${this.limits.maxBytes} bytes`;
    if (raw.includes("\0")) return `entry name contains a NUL byte`;
    if (raw.startsWith("/")) return `entry ${name} has an absolute path`;
    const parts = raw.split("/").filter((p) => p !== "" && p !== ".");
    if (parts.includes("..")) return `entry ${name} climbs out with ".."`;
    if (parts[0] !== ARCHIVE_ROOT) return `entry ${name} is not under ${ARCHIVE_ROOT}/`;
    if (!ALLOWED_TYPES.has(entry.type)) return `entry ${name} is a ${entry.type}; only files, folders and links are accepted`;
    const relative = parts.slice(1).join("/");
    if (relative === "" && entry.type !== "Directory") return `entry ${name} must be a folder (it is the workspace itself)`;
    for (let i = 1; i < parts.length - 1; i++) {
      const prefix = parts.slice(1, i + 1).join("/");
      if (this.symlinks.has(prefix)) return `entry ${name} goes through the symbolic link ${prefix}`;
      if (this.files.has(prefix)) return `entry ${name} is inside ${prefix}, which the archive made a file`;
    }
    const isLink = this.symlinks.has(relative);
    if (entry.type === "SymbolicLink") {
      const target = entry.linkpath;
      if (!target || posix.isAbsolute(target)) return `symbolic link ${name} points to the absolute path ${JSON.stringify(target)}`;
      if (target.includes("\0")) return `symbolic link ${name} has a NUL byte in its target`;
      const resolved = posix.normalize(posix.join(posix.dirname(relative || "."), target));
      if (escapes(resolved)) return `symbolic link ${name} points outside the workspace (${target})`;
      if (this.files.has(relative) || this.dirs.has(relative)) return `symbolic link ${name} replaces a file or folder of the same name`;
      this.symlinks.set(relative, { raw, target });
    } else if (isLink) {
      return `entry ${name} replaces the symbolic link of the same name`;
    } else if (entry.type === "Link") {
      const target = entry.linkpath.split("/").filter((p) => p !== "" && p !== ".");
      if (target.includes("..") || target[0] !== ARCHIVE_ROOT || !this.files.has(target.slice(1).join("/"))) {
        return `hard link ${name} points to ${JSON.stringify(entry.linkpath)}, which is not a file of this archive`;
      }
      if (this.dirs.has(relative)) return `hard link ${name} replaces a folder of the same name`;
      this.files.add(relative);
    } else if (entry.type === "Directory") {
      if (this.files.has(relative)) return `folder ${name} replaces a file of the same name`;
      this.dirs.add(relative);
    } else {
      if (this.dirs.has(relative)) return `file ${name} replaces a folder of the same name`;
      this.files.add(relative);
    }
    for (let dir = parentOf(relative); !this.dirs.has(dir); dir = parentOf(dir)) this.dirs.add(dir);
    return undefined;
  }

  /**
   * Once every entry is known: refuses a symbolic link whose target walks through another link.
   * A lexically harmless "x -> d1/d2/up/.." really goes wherever the link d1/d2/up leads, and
   * that link may come later in the archive than x.
   */
  finalProblem(): string | undefined {
    for (const [relative, link] of this.symlinks) {
      const stack = parentOf(relative) === "" ? [] : parentOf(relative).split("/");
      const steps = link.target.split("/").filter((p) => p !== "" && p !== ".");
      for (const [i, step] of steps.entries()) {
        if (step === "..") {
          stack.pop();
          continue;
        }
        stack.push(step);
        const here = stack.join("/");
        if (i < steps.length - 1 && this.symlinks.has(here)) {
          return `symbolic link ${JSON.stringify(link.raw)} points through the symbolic link ${here} (links may not chain)`;
        }
      }
    }
    return undefined;
  }

  /** The symbolic links to make once every file is written: [workspace path, target]. */
  links(): Array<[string, string]> {
    return [...this.symlinks].map(([relative, link]) => [relative, link.target]);
  }
}
