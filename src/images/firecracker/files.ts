// heyvm's side of the firecracker image format. The format itself (file names, the kernel command
// line that runs /init.sh as PID 1) is defined once, in images/custom/formats.ts; heyvm's default
// image is one of that format with an initrd (Debian's kernel has virtio-mmio, virtio-blk and
// ext4 as modules) and a guest that also serves /workspace over vsock (below).
import { IMAGE_FORMATS } from "../custom/formats.js";

export { FIRECRACKER_BOOT_ARGS } from "../custom/formats.js";

/** The files of a firecracker image, by role (names inside images/firecracker/<name>/). */
export const FIRECRACKER_IMAGE_FILES = IMAGE_FORMATS.firecracker.files;

/**
 * What image.json's details.boot.workspace says of an image whose guest mounts /workspace from
 * the host over vsock (sshfs on GUEST_VSOCK_PORTS.workspace): heyvm's default image. An image
 * without it (one built from a Dockerfile) has no such channel on Firecracker.
 */
export const WORKSPACE_OVER_VSOCK = "sshfs-over-vsock";

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
