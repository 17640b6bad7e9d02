// Builds heyvm's default firecracker-format image from Debian's own packages: Debian's kernel
// uncompressed (vmlinux), a busybox initrd that loads its virtio-mmio/virtio-blk/ext4/vsock/fuse
// modules, and an mmdebstrap root filesystem (git, sshd, sshfs, socat, user heyo) packed as a
// sparse raw ext4 file with /init.sh. Built in a temporary folder renamed into place at the end.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Reporter } from "../../shared/reporter.js";
import type { HeyoHome } from "../../state/home.js";
import type { ImageManifest } from "../store.js";
import { TOOLS, buildKernel, describeImageFiles, installImage, requireDefaultImageTools, debianRoot, removeBuildFolder, step, tool } from "../vm/build.js";
import { VM_IMAGE_FILES } from "../vm/files.js";
import { IMAGE_FORMATS } from "../custom/formats.js";
import { FIRECRACKER_BOOT_ARGS, FIRECRACKER_IMAGE_FILES, WORKSPACE_OVER_VSOCK } from "./files.js";
import { FIRECRACKER_GUEST_FILES, FIRECRACKER_INITRD_INIT, FIRECRACKER_INITRD_MODULES, FIRECRACKER_PACKAGES } from "./guest-files.js";
import { CUSTOMIZE_SCRIPT } from "../vm/guest-files.js";

/** Size of the sparse root filesystem (room to install packages inside). */
const ROOTFS_SIZE = "4G";

/** Builds the default firecracker image into target (images/firecracker/default). */
export async function buildDefaultFirecrackerImage(home: HeyoHome, target: string, reporter: Reporter): Promise<ImageManifest> {
  requireDefaultImageTools(TOOLS.filter(([file]) => file !== "qemu-img"), "the default firecracker image", "firecracker");
  mkdirSync(dirname(target), { recursive: true });
  const cache = join(home.images, ".cache");
  mkdirSync(cache, { recursive: true });
  const work = mkdtempSync(join(dirname(target), ".build-"));
  const out = join(work, "image");
  mkdirSync(out);
  const started = Date.now();
  reporter.progress(`building the default firecracker image (first use only; about a minute) in ${target}`);
  try {
    const kernel = await buildKernel(cache, work, out, reporter, { init: FIRECRACKER_INITRD_INIT, modules: FIRECRACKER_INITRD_MODULES });
    rmSync(join(out, VM_IMAGE_FILES.compressedKernel), { force: true }); // the format boots the uncompressed one
    const suite = (await tool("sh", ["-c", ". /etc/os-release && echo ${VERSION_CODENAME:-bookworm}"])).trim() || "bookworm";
    const root = await debianRoot(work, reporter, suite, { packages: FIRECRACKER_PACKAGES, files: FIRECRACKER_GUEST_FILES, customizeScript: CUSTOMIZE_SCRIPT });
    await step(reporter, "packing the root filesystem (raw ext4, sparse)", () =>
      tool("mkfs.ext4", ["-q", "-F", "-L", "heyvm-root", "-d", root, "-E", "lazy_itable_init=1,lazy_journal_init=1", "-m", "0", join(out, FIRECRACKER_IMAGE_FILES.rootfs), ROOTFS_SIZE]),
    );
    const files: Record<string, string> = { kernel: FIRECRACKER_IMAGE_FILES.kernel ?? "vmlinux", initrd: FIRECRACKER_IMAGE_FILES.initrd ?? "initrd", rootfs: FIRECRACKER_IMAGE_FILES.rootfs };
    const { checksums, sizeBytes } = await describeImageFiles(out, files);
    const manifest: ImageManifest = {
      name: basename(target),
      backend: "firecracker",
      createdAt: new Date().toISOString(),
      files,
      checksums,
      sizeBytes,
      details: {
        ...kernel,
        suite,
        format: "firecracker: raw ext4 rootfs + uncompressed vmlinux (+ initrd)",
        bootArgs: FIRECRACKER_BOOT_ARGS,
        kernelOrigin: "debian",
        buildSeconds: Math.round((Date.now() - started) / 1000),
        guest: "/init.sh (PID 1), sshd -i and sshfs over vsock, git",
        // how it boots, in the shape Dockerfile-built images record it (images/vm/boot.ts reads it)
        boot: { cmdline: FIRECRACKER_BOOT_ARGS, init: "/init.sh", rootfsFormat: "raw", filesystem: "ext4", bootedBy: IMAGE_FORMATS.firecracker.bootedBy, workspace: WORKSPACE_OVER_VSOCK },
      },
    };
    installImage(out, target, manifest);
    reporter.info(`default firecracker image ready in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return manifest;
  } finally {
    await removeBuildFolder(work);
  }
}
