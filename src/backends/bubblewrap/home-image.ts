// The disk bound on a bubblewrap sandbox's home: a fixed-size ext4 image (home.ext4, sparse, made
// once from what the home folder held) mounted on the home folder while the sandbox runs, so what
// the sandbox writes there stops at the image's size (ENOSPC) and the host's disk is untouched
// beyond it. Mounting needs root; without it the home stays a plain folder and heyvm says so.
// The sandbox never sees the image file itself (only the mounted tree), so it cannot hand the
// host's kernel a crafted file system; the mount is nosuid and nodev.
import { existsSync, readFileSync } from "node:fs";
import { findSystemExecutable, run } from "../../shared/run.js";
import { UnavailableError } from "../../shared/errors.js";
import type { SandboxDir } from "../../state/sandbox-dir.js";
import type { HostUser } from "./host-user.js";

function tool(name: string): string {
  const path = findSystemExecutable(name);
  if (!path) throw new UnavailableError(`${name} is not installed (heyvm bounds a sandbox's home with an ext4 image)`, name === "mke2fs" ? "install e2fsprogs" : "install util-linux (mount)");
  return path;
}

/** Decodes mountinfo's octal escapes (\040 for a space…). */
function unescape(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, code: string) => String.fromCharCode(parseInt(code, 8)));
}

export function isMountPoint(path: string): boolean {
  return readFileSync("/proc/self/mountinfo", "utf8").split("\n").some((line) => {
    const field = line.split(" ")[4];
    return field !== undefined && unescape(field) === path;
  });
}

/** Makes the image once (with the folder's current files, owned by the sandbox's user) and mounts it on the folder. */
export async function mountHomeImage(dir: SandboxDir, sizeMiB: number, user: HostUser): Promise<void> {
  await unmountHomeImage(dir); // a dead owner's mount
  if (!existsSync(dir.homeImagePath)) {
    await run(tool("mke2fs"), [
      "-q", "-t", "ext4", "-m", "0", "-J", "size=4",
      "-E", `root_owner=${user.uid}:${user.gid},lazy_itable_init=1,lazy_journal_init=1`,
      "-d", dir.homePath, dir.homeImagePath, `${sizeMiB}M`,
    ]);
  }
  // noinit_itable: the kernel would otherwise zero the inode tables in the background, filling the sparse file
  await run(tool("mount"), ["-t", "ext4", "-o", "loop,nosuid,nodev,noatime,noinit_itable", "--", dir.homeImagePath, dir.homePath]);
}

/** Unmounts the home image if it is mounted; true if it was. */
export async function unmountHomeImage(dir: SandboxDir): Promise<boolean> {
  if (!isMountPoint(dir.homePath)) return false;
  const umount = tool("umount");
  const plain = await run(umount, ["--", dir.homePath], { allowFailure: true });
  // busy only for a moment after the sandbox's last process: detach it, the kernel frees it then
  if (plain.code !== 0) await run(umount, ["--lazy", "--", dir.homePath]);
  return true;
}
