// The decisions of a custom image build that need no engine: what the kernel rule's step reports,
// the automatic size, image names, what the guest-contract step reports, and how a VM image's
// image.json says it boots (the default image, which records nothing, boots as it always did).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkImageName, engineTag } from "../../../src/images/custom/build.js";
import { FIRECRACKER_BOOT_ARGS, IMAGE_FORMATS } from "../../../src/images/custom/formats.js";
import { contractDockerfile, dockerfileAdvice, parseKernelReport, parseMissing, parseSetupFailure, STAGED_FILES, stagedFiles } from "../../../src/images/custom/guest-contract.js";
import { missingGuestModules } from "../../../src/images/custom/kernel-modules.js";
import { FIRECRACKER_GUEST_FILES } from "../../../src/images/firecracker/guest-files.js";
import { VSOCK_LISTENERS, workspaceScript } from "../../../src/images/firecracker/vsock-guest.js";
import { chooseSize } from "../../../src/images/custom/rootfs.js";
import type { ImageManifest } from "../../../src/images/store.js";
import { DEFAULT_VM_CMDLINE, vmBoot } from "../../../src/images/vm/boot.js";
import { UserError } from "../../../src/shared/errors.js";

const MiB = 1024 * 1024;

describe("the guest-contract step's reports", () => {
  test("the step's report is read back; anything else is not a report", () => {
    assert.deepEqual(parseKernelReport("HEYVM_KERNEL origin=injected kernel=/boot/vmlinuz-lts initrd=/boot/initramfs-lts"), { origin: "injected", kernel: "/boot/vmlinuz-lts", initrd: "/boot/initramfs-lts" });
    assert.deepEqual(parseKernelReport("HEYVM_KERNEL origin=image kernel=/boot/vmlinuz-lts initrd="), { origin: "image", kernel: "/boot/vmlinuz-lts", initrd: undefined });
    assert.equal(parseKernelReport("echo HEYVM_KERNEL origin=image"), undefined);
    assert.equal(parseSetupFailure("HEYVM_SETUP_FAILED no sshd and no package manager heyvm knows (apt, apk, dnf)"), "no sshd and no package manager heyvm knows (apt, apk, dnf)");
    assert.equal(parseSetupFailure("Step 2/4 : RUN x"), undefined);
  });
});

describe("the root filesystem's size", () => {
  test("automatic: content × 1.2 + 64 MiB, at least 128 MiB, and it says so", () => {
    assert.equal(chooseSize(10 * MiB, undefined).sizeMiB, 128);
    assert.equal(chooseSize(300 * MiB, undefined).sizeMiB, 360 + 64);
    assert.match(chooseSize(300 * MiB, undefined).rule, /content 300 MiB × 1\.2 \+ 64 MiB .* = 424 MiB, about 124 MiB free/);
  });

  test("--size-mb is taken as given, unless the content cannot fit", () => {
    assert.equal(chooseSize(300 * MiB, 4096).sizeMiB, 4096);
    assert.throws(() => chooseSize(300 * MiB, 200), (error: unknown) => error instanceof UserError && /too small for the image's 300 MiB/.test(error.message));
  });
});

describe("image names and formats", () => {
  test("names become folders and engine tags", () => {
    for (const name of ["my-base", "a", "tools_2.1"]) assert.doesNotThrow(() => checkImageName(name));
    for (const name of ["", "My-Base", "../x", "a/b", "default", "-x", "x".repeat(64)]) assert.throws(() => checkImageName(name), UserError, name);
    assert.equal(engineTag("apple_virt", "my-base"), "localhost/heyvm/my-base:apple-virt");
  });

  test("the firecracker format is a raw ext4, an uncompressed kernel and /init.sh", () => {
    assert.deepEqual(IMAGE_FORMATS.firecracker.files, { kernel: "vmlinux", initrd: "initrd", rootfs: "rootfs.ext4" });
    assert.equal(IMAGE_FORMATS.firecracker.kernel, "uncompressed");
    assert.equal(FIRECRACKER_BOOT_ARGS, "console=ttyS0 reboot=k panic=1 pci=off root=/dev/vda rw rootfstype=ext4 init=/init.sh");
    assert.equal(IMAGE_FORMATS.bubblewrap.vm, false);
  });

  test("the guest-contract step runs heyvm's busybox, so it needs nothing from the image", () => {
    const dockerfile = contractDockerfile("sha256:abc");
    assert.match(dockerfile, /^FROM sha256:abc\nUSER root\n/);
    assert.match(dockerfile, /RUN \["\/\.heyvm\/busybox", "sh", "\/\.heyvm\/setup\.sh"\]/);
    assert.match(STAGED_FILES["init.sh"] ?? "", /^#!\/usr\/libexec\/heyvm\/busybox sh\n/);
    assert.match(STAGED_FILES["init.sh"] ?? "", /echo "HEYVM_READY"/);
    assert.match(STAGED_FILES["setup.sh"] ?? "", /rm -f \/etc\/ssh\/ssh_host_\*/, "host keys made by an installed package are never shipped");
  });
});

describe("the firecracker format's /workspace channel in the guest contract", () => {
  test("the firecracker format stages the default image's workspace script and wants sshfs and socat; libvirt's does not", () => {
    const firecracker = stagedFiles(true);
    assert.equal(firecracker["heyvm-workspace"], workspaceScript("/usr/libexec/heyvm/busybox sh"));
    assert.equal(FIRECRACKER_GUEST_FILES["usr/sbin/heyvm-workspace"], workspaceScript("/bin/sh"), "one script, two interpreters");
    assert.ok((firecracker["init.sh"] ?? "").includes(VSOCK_LISTENERS), "the default image's vsock listeners, not a copy");
    assert.ok((FIRECRACKER_GUEST_FILES["init.sh"] ?? "").includes(VSOCK_LISTENERS));
    assert.match(firecracker["needs.sh"] ?? "", /have sshfs \|\| want sshfs "sshfs" sshfs sshfs fuse-sshfs\n/);
    assert.match(firecracker["needs.sh"] ?? "", /have socat \|\| want socat/);
    assert.equal(stagedFiles(false)["heyvm-workspace"], undefined);
    assert.doesNotMatch(STAGED_FILES["needs.sh"] ?? "", /sshfs|socat/);
    assert.match(STAGED_FILES["needs.sh"] ?? "", /have_sshd \|\| want sshd "SSH server" openssh-server/);
  });

  test("what the step lacked is read back, and the advice names only that", () => {
    assert.deepEqual(parseMissing("HEYVM_SETUP_MISSING sshfs socat"), ["sshfs", "socat"]);
    assert.equal(parseMissing("HEYVM_SETUP_MISSING"), undefined);
    assert.equal(dockerfileAdvice(false), "add an SSH server to the Dockerfile (Debian/Ubuntu: RUN apt-get install -y openssh-server; Alpine: RUN apk add openssh-server; Fedora: RUN dnf install -y openssh-server)");
    assert.equal(dockerfileAdvice(true, ["sshfs"]), "add sshfs to the Dockerfile (Debian/Ubuntu: RUN apt-get install -y sshfs; Alpine: RUN apk add sshfs; Fedora: RUN dnf install -y fuse-sshfs)");
    assert.match(dockerfileAdvice(true), /^add an SSH server, sshfs and socat to the Dockerfile \(Debian\/Ubuntu: RUN apt-get install -y openssh-server sshfs socat;/);
  });

  test("an image's own kernel: its modules folder says whether vsock and fuse are there (built in or as modules)", () => {
    const tree = mkdtempSync(join(tmpdir(), "heyvm-modules-"));
    try {
      const wanted = ["vmw_vsock_virtio_transport", "fuse"];
      assert.deepEqual(missingGuestModules(tree, "/boot/vmlinuz-lts", wanted), { modulesDir: null, missing: wanted }, "no /lib/modules: cannot tell");
      const dir = join(tree, "lib", "modules", "6.1.0-test");
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "modules.builtin"), "kernel/fs/fuse/fuse.ko\n");
      writeFileSync(join(dir, "modules.dep"), "kernel/fs/ext4/ext4.ko.xz: kernel/fs/jbd2/jbd2.ko.xz\n");
      assert.deepEqual(missingGuestModules(tree, "/boot/vmlinuz-6.1.0-test", wanted), { modulesDir: "/lib/modules/6.1.0-test", missing: ["vmw_vsock_virtio_transport"] });
      writeFileSync(join(dir, "modules.dep"), "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko.xz: kernel/net/vmw_vsock/vsock.ko.xz\n");
      assert.deepEqual(missingGuestModules(tree, "/boot/vmlinuz-lts", wanted), { modulesDir: "/lib/modules/6.1.0-test", missing: [] }, "the only modules folder, for a kernel without a version in its name");
    } finally {
      rmSync(tree, { recursive: true, force: true });
    }
  });
});

describe("how a VM image boots", () => {
  const base: ImageManifest = { name: "x", backend: "libvirt", createdAt: "", files: {}, checksums: {}, sizeBytes: 0, details: {} };

  test("the default image records nothing and boots as before", () => {
    const boot = vmBoot("/img", { ...base, files: { kernel: "vmlinux", initrd: "initrd", rootfs: "rootfs.qcow2" } });
    assert.deepEqual(boot, { kernel: "/img/vmlinux", initrd: "/img/initrd", rootfs: "/img/rootfs.qcow2", rootfsFormat: "qcow2", cmdline: DEFAULT_VM_CMDLINE });
  });

  test("a custom image's image.json gives its files, disk format and command line", () => {
    const boot = vmBoot("/img", { ...base, files: { kernel: "vmlinuz", rootfs: "rootfs.ext4" }, details: { boot: { cmdline: "console=ttyS0 init=/init.sh", rootfsFormat: "raw" } } });
    assert.deepEqual(boot, { kernel: "/img/vmlinuz", initrd: null, rootfs: "/img/rootfs.ext4", rootfsFormat: "raw", cmdline: "console=ttyS0 init=/init.sh" });
  });
});
