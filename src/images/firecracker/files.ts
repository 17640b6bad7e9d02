// The firecracker image format (DESIGN §8): a raw ext4 root filesystem and an uncompressed
// kernel, booted with FIRECRACKER_BOOT_ARGS so that the kernel runs /init.sh as PID 1. An initrd
// is optional in the format: Debian's kernel has virtio-mmio, virtio-blk and ext4 as modules,
// so heyvm's default image carries one that loads them and then runs the same /init.sh.

/** The files of a firecracker image, by role (names inside images/firecracker/<name>/). */
export const FIRECRACKER_IMAGE_FILES = { kernel: "vmlinux", initrd: "initrd", rootfs: "rootfs.ext4" } as const;

/** The kernel command line every firecracker-format image is booted with. */
export const FIRECRACKER_BOOT_ARGS = "console=ttyS0 reboot=k panic=1 pci=off root=/dev/vda rw rootfstype=ext4 init=/init.sh";

/**
 * Guest vsock ports of the guest contract: the guest listens on them, the host connects
 * (host-initiated connections only, so nothing on the host has to listen while the owner hands
 * over to its native monitor).
 */
export const GUEST_VSOCK_PORTS = {
  /** sshd, one `sshd -i` per connection. */
  ssh: 22,
  /** An SFTP session the guest mounts (sshfs, passive) as the host's view of /workspace. */
  workspace: 10001,
} as const;

/** The CID the guest gets (any value from 3 up; each Firecracker process has its own). */
export const GUEST_CID = 3;
