// How a VM image boots, read from its image.json: which files are the kernel, initrd and root
// disk, the disk's format and the kernel command line. The default image records none of this
// (it predates custom images) and boots as it always has; a Dockerfile-built image records it
// under details.boot (see images/custom/formats.ts).
import { join } from "node:path";
import { isObject, str } from "../../shared/json.js";
import type { ImageManifest } from "../store.js";
import { VM_IMAGE_FILES } from "./files.js";

/** The default image's kernel command line (its initrd runs /sbin/init, busybox init). */
export const DEFAULT_VM_CMDLINE = "console=ttyS0 root=/dev/vda rootflags=rw quiet panic=-1";

export type DiskFormat = "qcow2" | "raw";

export interface VmBoot {
  /** Absolute paths of the image's files. */
  kernel: string;
  initrd: string | null;
  rootfs: string;
  rootfsFormat: DiskFormat;
  cmdline: string;
}

/** The boot description of the image in dir. */
export function vmBoot(dir: string, manifest: ImageManifest): VmBoot {
  const boot = isObject(manifest.details.boot) ? manifest.details.boot : {};
  const initrd = manifest.files.initrd ?? (isObject(manifest.details.boot) ? undefined : VM_IMAGE_FILES.initrd);
  const format = str(boot, "rootfsFormat");
  return {
    kernel: join(dir, manifest.files.kernel ?? VM_IMAGE_FILES.kernel),
    initrd: initrd ? join(dir, initrd) : null,
    rootfs: join(dir, manifest.files.rootfs ?? VM_IMAGE_FILES.rootfs),
    rootfsFormat: format === "raw" ? "raw" : "qcow2",
    cmdline: str(boot, "cmdline") ?? DEFAULT_VM_CMDLINE,
  };
}
