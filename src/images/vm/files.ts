// The files of a VM image, by role (their names inside images/<backend>/<name>/).
export const VM_IMAGE_FILES = { kernel: "vmlinux", compressedKernel: "vmlinuz", initrd: "initrd", rootfs: "rootfs.qcow2" } as const;
