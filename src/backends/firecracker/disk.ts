// A firecracker sandbox's own drives: a copy of the image's root filesystem (reflink where the
// filesystem can, else sparse: never the shared image file, which stays read-only), recreated
// when it is damaged or the image was rebuilt, and the read-only config drive (a tar archive of
// the guest's settings, which the guest's /init.sh unpacks from /dev/vdb).
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { run } from "../../shared/run.js";
import type { Reporter } from "../types.js";
import { IMAGE_REBUILT, diskRecreatedNotice } from "../vm-disk.js";

async function rootfsProblem(disk: string): Promise<string | undefined> {
  const header = await run("dumpe2fs", ["-h", disk], { allowFailure: true });
  if (header.code !== 0) return header.stderr.trim().split("\n").pop() || "it has no readable ext4 superblock";
  return undefined;
}

/**
 * Makes sure disk is a sound copy of base (an ext4 image), copying it again when it is missing,
 * damaged, or was made from another build of the image (baseId: the image's rootfs checksum).
 */
export async function ensureRootfsCopy(disk: string, base: string, baseId: string, reporter: Reporter): Promise<void> {
  const idFile = `${disk}.base`;
  if (existsSync(disk)) {
    const recorded = existsSync(idFile) ? readFileSync(idFile, "utf8").trim() : "";
    const problem = recorded !== baseId ? IMAGE_REBUILT : await rootfsProblem(disk);
    if (!problem) return;
    reporter.info(diskRecreatedNotice(disk, problem));
    rmSync(disk, { force: true });
  }
  const partial = `${disk}.partial`;
  await run("cp", ["--reflink=auto", "--sparse=always", base, partial]);
  renameSync(partial, disk);
  writeFileSync(idFile, `${baseId}\n`);
}

/** Packs the guest's settings (files of folder) into a tar archive: the config drive. */
export async function writeConfigDrive(folder: string, files: readonly string[], drive: string): Promise<void> {
  const partial = `${drive}.partial`;
  await run("tar", ["--format=ustar", "--owner=0", "--group=0", "-cf", partial, "-C", folder, ...files]);
  renameSync(partial, drive);
}

/**
 * A stopped firecracker sandbox's root disk for its fork: Firecracker's drives are raw files, so
 * the copy shares blocks only where the file system clones (`--reflink=auto`: btrfs, XFS); else
 * it copies the blocks in use (sparse). The `.base` record goes with it.
 */
export async function forkRootfs(source: string, target: string): Promise<string> {
  if (!existsSync(source)) return "no disk yet: the fork makes its own from the image at its first start";
  const partial = `${target}.partial`;
  await run("cp", ["--reflink=auto", "--sparse=always", "--", source, partial]);
  renameSync(partial, target);
  if (existsSync(`${source}.base`)) writeFileSync(`${target}.base`, readFileSync(`${source}.base`));
  return "root disk copied (reflink where the file system allows, else only its used blocks)";
}
