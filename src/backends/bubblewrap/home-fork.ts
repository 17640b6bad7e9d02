// The home of a forked bubblewrap sandbox: a copy of the source's home image (home.ext4), made with
// `cp --reflink=auto --sparse=always` (blocks shared on a file system that clones, such as btrfs or
// XFS; else only the blocks in use are copied, holes stay holes). A running source's mounted image
// is frozen (fsfreeze) for the copy, so the copy is a consistent file system. A home that is a
// plain folder (heyvm not run as root) is copied as a tree, links as links, never followed.
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { findSystemExecutable, run } from "../../shared/run.js";
import { UnavailableError } from "../../shared/errors.js";
import type { SandboxDir } from "../../state/sandbox-dir.js";
import { isMountPoint } from "./home-image.js";

/** Copies the source's home to the fork; returns what is shared or copied, for the user. */
export async function forkHome(source: SandboxDir, target: SandboxDir): Promise<string> {
  mkdirSync(target.homePath, { recursive: true });
  if (existsSync(source.homeImagePath)) {
    const partial = `${target.homeImagePath}.partial`;
    const mounted = isMountPoint(source.homePath);
    const fsfreeze = findSystemExecutable("fsfreeze");
    if (mounted && !fsfreeze) throw new UnavailableError("fsfreeze is not installed (heyvm freezes a running sandbox's home for a consistent copy)", "install util-linux");
    if (mounted && fsfreeze) await run(fsfreeze, ["--freeze", source.homePath]);
    try {
      await run("cp", ["--reflink=auto", "--sparse=always", "--", source.homeImagePath, partial]);
    } finally {
      if (mounted && fsfreeze) await run(fsfreeze, ["--unfreeze", source.homePath]);
    }
    renameSync(partial, target.homeImagePath);
    return "home image copied with reflink where the file system allows, else sparse (only its used blocks)";
  }
  if (existsSync(source.homePath)) {
    rmSync(target.homePath, { recursive: true, force: true });
    await run("cp", ["-a", "--no-dereference", "--reflink=auto", "--", source.homePath, target.homePath]);
    return "home folder copied (reflink where the file system allows)";
  }
  return "no home to copy";
}
