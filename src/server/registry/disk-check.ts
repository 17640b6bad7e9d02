// A published image's root disk is a tenant's data: a qcow2 header can name any host file as its
// backing file or external data file, and a file declared raw can be probed as qcow2 or vmdk (whose
// descriptor names host files too). QEMU would open those files for the guest, and libvirt would
// hand them to QEMU's user. So the disk must be one standalone image in exactly the format
// image.json declares. `qemu-img info` reads only the header (it opens no backing file), and runs
// here on a hostile file the way OpenStack and libguestfs run it: with 1 GiB of address space and
// 30 s of CPU, and, beyond that, in bubblewrap seeing nothing of the host but /usr and the disk.
import { findSystemExecutable, run } from "../../shared/run.js";
import { bwrapBinary } from "../../backends/bubblewrap/args.js";
import type { ImageManifest } from "../../images/store.js";
import { vmBoot, type DiskFormat } from "../../images/vm/boot.js";

interface QemuImgInfo {
  format?: string;
  "backing-filename"?: string;
  "full-backing-filename"?: string;
  encrypted?: boolean;
  "virtual-size"?: number;
  "format-specific"?: { type?: string; data?: { "data-file"?: string } };
}

/** Where the disk is seen inside the confined qemu-img. */
const CONFINED_PATH = "/image.disk";

/** `qemu-img info` of a disk, confined and bounded; its parsed JSON, or why it could not be read. */
async function confinedInfo(disk: string): Promise<QemuImgInfo | string> {
  const bwrap = bwrapBinary();
  const qemuImg = findSystemExecutable("qemu-img");
  const prlimit = findSystemExecutable("prlimit");
  if (!bwrap || !qemuImg || !prlimit) return "this server cannot check VM disks (it needs bwrap, qemu-img and prlimit)";
  const args = ["--die-with-parent", "--new-session", "--unshare-all", "--cap-drop", "ALL", "--dev", "/dev"];
  args.push("--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin");
  args.push("--ro-bind", disk, CONFINED_PATH, prlimit, "--as=1073741824", "--cpu=30", qemuImg, "info", "--output=json", "--force-share", CONFINED_PATH);
  const result = await run(bwrap, args, { allowFailure: true, timeout: 60_000 });
  if (result.code !== 0) return `qemu-img cannot read it (${result.stderr.trim().split("\n").pop() ?? `exit ${result.code}`})`;
  try {
    return JSON.parse(result.stdout) as QemuImgInfo;
  } catch {
    return "qemu-img info gave no JSON";
  }
}

/**
 * Why the disk at `disk` (declared `declared` by image.json) may not boot, or undefined when it
 * is one standalone image of that format: no backing file, no external data file, no encryption.
 */
export async function diskImageProblem(disk: string, declared: DiskFormat): Promise<string | undefined> {
  const info = await confinedInfo(disk);
  if (typeof info === "string") return info;
  const backing = info["full-backing-filename"] ?? info["backing-filename"];
  if (backing !== undefined) return `its root disk names a backing file (${JSON.stringify(backing)}); a published disk must stand alone`;
  const dataFile = info["format-specific"]?.data?.["data-file"];
  if (dataFile !== undefined) return `its root disk names an external data file (${JSON.stringify(dataFile)}); a published disk must stand alone`;
  if (info.format !== declared) return `its root disk is ${info.format ?? "of an unknown format"}, not the ${declared} its image.json declares`;
  if (info.encrypted) return "its root disk is encrypted";
  return undefined;
}

/** Why a published image's root disk (in dir, described by manifest) may not boot on backend, or undefined. */
export async function publishedDiskProblem(dir: string, manifest: ImageManifest, backend: string): Promise<string | undefined> {
  const boot = vmBoot(dir, manifest);
  if (backend === "firecracker" && boot.rootfsFormat !== "raw") return `a firecracker image's root disk is raw; its image.json declares ${boot.rootfsFormat} (details.boot.rootfsFormat)`;
  return diskImageProblem(boot.rootfs, boot.rootfsFormat);
}
