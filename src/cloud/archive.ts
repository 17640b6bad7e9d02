// Packs a worktree into the tar.gz the cloud expects (every entry under workspace/): the files
// git would see (tracked + untracked, .gitignore respected), minus .git and dependency folders;
// or, with ignore=false, everything but .git.
import { lstatSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { create } from "tar";
import { git } from "../git/repo.js";
import { ARCHIVE_ROOT } from "./schema.js";

/** Folders of installed dependencies and caches: rebuilt in the cloud, never uploaded. */
export const DEPENDENCY_DIRS = new Set([
  "node_modules", "bower_components", ".venv", "venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache",
  ".tox", ".gradle", ".terraform", ".cache", ".pnpm-store", ".yarn",
]);
/** Build output folders: skipped when git does not track them. */
export const BUILD_DIRS = new Set(["dist", "build", "target", "out", ".next", ".nuxt", ".svelte-kit", ".parcel-cache", ".turbo"]);

export interface ArchiveOptions {
  /** false: take everything (except .git), ignoring .gitignore and the default skips. */
  ignore: boolean;
}

export interface WorkspaceArchive {
  path: string;
  files: number;
  /** Size of the files packed (before compression). */
  inputBytes: number;
  /** Size of the tar.gz. */
  sizeBytes: number;
}

function segments(path: string): string[] {
  return path.split("/");
}

function hasGitSegment(path: string): boolean {
  return segments(path).includes(".git");
}

function skippedDependency(path: string): boolean {
  return segments(path).some((part) => DEPENDENCY_DIRS.has(part));
}

function skippedBuild(path: string): boolean {
  return segments(path).slice(0, -1).some((part) => BUILD_DIRS.has(part));
}

function walk(root: string, prefix: string, out: string[]): void {
  for (const entry of readdirSync(join(root, prefix), { withFileTypes: true })) {
    if (entry.name === ".git") continue;
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) walk(root, path, out);
    else out.push(path);
  }
}

/** The relative paths to pack, in a stable order; missing (deleted but tracked) files are left out. */
export async function workspaceFiles(root: string, options: ArchiveOptions): Promise<string[]> {
  let paths: string[];
  if (!options.ignore) {
    paths = [];
    walk(root, "", paths);
  } else {
    const split = (text: string) => text.split("\0").filter(Boolean);
    const tracked = split(await git(root, ["ls-files", "-z", "--cached"]));
    const untracked = split(await git(root, ["ls-files", "-z", "--others", "--exclude-standard"]));
    paths = [
      ...tracked.filter((p) => !hasGitSegment(p) && !skippedDependency(p)),
      ...untracked.filter((p) => !hasGitSegment(p) && !skippedDependency(p) && !skippedBuild(p)),
    ];
  }
  const present = paths.filter((path) => {
    try {
      lstatSync(join(root, path));
      return true;
    } catch {
      return false; // deleted in the worktree, still in the index
    }
  });
  return [...new Set(present)].sort();
}

/** Writes the archive of `files` (relative to root) to `outPath`. */
export async function packWorkspace(root: string, files: string[], outPath: string, options: ArchiveOptions): Promise<WorkspaceArchive> {
  let inputBytes = 0;
  await create(
    {
      gzip: { level: 6 },
      cwd: root,
      file: outPath,
      prefix: ARCHIVE_ROOT,
      portable: true,
      // a listed folder (a submodule) is packed whole, minus its .git and, unless --no-ignore, dependencies
      filter: (path, stat) => {
        const clean = path.replace(/^\.\//, "");
        if (hasGitSegment(clean) || (options.ignore && skippedDependency(clean))) return false;
        if ("isFile" in stat && stat.isFile()) inputBytes += stat.size;
        return true;
      },
    },
    files.map((file) => `./${file}`), // node-tar reads a leading "@" as "merge this archive"
  );
  return { path: outPath, files: files.length, inputBytes, sizeBytes: statSync(outPath).size };
}
