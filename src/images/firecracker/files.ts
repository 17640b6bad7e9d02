// heyvm's side of the firecracker image format. The format itself (file names, the kernel command
// line that runs /init.sh as PID 1) is defined once, in images/custom/formats.ts; heyvm's default
// image is one of that format with an initrd (Debian's kernel has virtio-mmio, virtio-blk and
// ext4 as modules) and a guest that also serves /workspace over vsock (below).
import { IMAGE_FORMATS } from "../custom/formats.js";

export { FIRECRACKER_BOOT_ARGS } from "../custom/formats.js";

/** The files of a firecracker image, by role (names inside images/firecracker/<name>/). */
export const FIRECRACKER_IMAGE_FILES = IMAGE_FORMATS.firecracker.files;

export { GUEST_VSOCK_PORTS, WORKSPACE_OVER_VSOCK } from "./vsock-guest.js";

/** The CID the guest gets (any value from 3 up; each Firecracker process has its own). */
export const GUEST_CID = 3;
