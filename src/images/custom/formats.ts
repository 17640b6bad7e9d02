// The image format each backend boots, for images built from a Dockerfile. image.json names
// every file by role, records its sha256 and says how to boot it (details.boot), so another
// backend (Firecracker's, say) can boot the same folder from its description alone:
//
//   libvirt      rootfs.ext4 (raw ext4; each sandbox gets a qcow2 overlay over it), kernel
//                (vmlinux, PVH, when heyvm's kernel is injected; else the image's vmlinuz), initrd
//   firecracker  rootfs.ext4 (raw ext4), vmlinux (uncompressed ELF), initrd;
//                cmdline FIRECRACKER_BOOT_ARGS, which runs /init.sh as PID 1; /workspace over
//                vsock (sshfs), like heyvm's default firecracker image
//   apple_virt   disk.img (raw ext4), vmlinuz (the kernel as shipped), initrd, for vfkit
//   bubblewrap   rootfs/ (the exported root folder, used read-only)
import type { BackendName } from "../../shared/backend-name.js";
import { WORKSPACE_OVER_VSOCK } from "../firecracker/vsock-guest.js";

/** The init every custom VM image boots (init= on the kernel command line); the guest contract puts it there. */
export const CUSTOM_INIT = "/init.sh";

/** The kernel command line of the firecracker format (DESIGN §8). */
export const FIRECRACKER_BOOT_ARGS = `console=ttyS0 reboot=k panic=1 pci=off root=/dev/vda rw rootfstype=ext4 init=${CUSTOM_INIT}`;

export interface ImageFormat {
  /** A short name for image.json and listings. */
  name: string;
  /** A virtual machine image (guest contract, kernel, ext4 disk) rather than a root folder. */
  vm: boolean;
  /** File name of each role inside the image folder. */
  files: { kernel?: string; initrd?: string; rootfs: string };
  /** Which kernel the format wants: uncompressed ELF (required), ELF where heyvm's own kernel is used, or as shipped. */
  kernel?: "uncompressed" | "uncompressed-if-injected" | "as-shipped";
  cmdline?: string;
  /** What boots it, in words (kept in image.json). */
  bootedBy: string;
  /**
   * How the guest gets /workspace when the machine has no shared filesystem (image.json's
   * details.boot.workspace): the firecracker format mounts it over vsock, as heyvm's default image does.
   */
  workspace?: typeof WORKSPACE_OVER_VSOCK;
}

export const IMAGE_FORMATS: Record<BackendName, ImageFormat> = {
  libvirt: {
    name: "libvirt-direct-boot",
    vm: true,
    files: { kernel: "vmlinux", initrd: "initrd", rootfs: "rootfs.ext4" },
    kernel: "uncompressed-if-injected",
    cmdline: `console=ttyS0 root=/dev/vda rootflags=rw rootfstype=ext4 quiet panic=-1 init=${CUSTOM_INIT}`,
    bootedBy: "QEMU through libvirt: direct kernel boot, virtio-blk (PCI) disk = a qcow2 overlay over rootfs.ext4, settings in fw_cfg opt/heyvm/*",
  },
  firecracker: {
    name: "firecracker-rootfs",
    vm: true,
    files: { kernel: "vmlinux", initrd: "initrd", rootfs: "rootfs.ext4" },
    kernel: "uncompressed",
    cmdline: FIRECRACKER_BOOT_ARGS,
    bootedBy: "Firecracker (or QEMU -M microvm): vmlinux + initrd, rootfs.ext4 as the first virtio-mmio drive (/dev/vda), settings as a tar archive on the second drive (/dev/vdb)",
    workspace: WORKSPACE_OVER_VSOCK,
  },
  apple_virt: {
    name: "vfkit-raw",
    vm: true,
    files: { kernel: "vmlinuz", initrd: "initrd", rootfs: "disk.img" },
    kernel: "as-shipped",
    cmdline: `console=hvc0 root=/dev/vda rw rootfstype=ext4 init=${CUSTOM_INIT}`,
    bootedBy: "vfkit (Virtualization.framework): linux kernel + initrd, disk.img as a virtio-blk disk",
  },
  bubblewrap: {
    name: "root-folder",
    vm: false,
    files: { rootfs: "rootfs" },
    bootedBy: "bubblewrap: rootfs/ bound read-only as the sandbox's root",
  },
};
