// heyvm's default kernel as a kit for images built from a Dockerfile that carry no kernel of
// their own: Debian's kernel (compressed and uncompressed), a busybox initrd that honours
// root=, rootfstype=, init= and module parameters on the command line (virtio_mmio.device=…,
// what Firecracker and QEMU's microvm pass), and the modules that initrd loads, laid out as
// /lib/modules/<version> for the image. Made once per kernel package and kept in the image cache.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { OperationFailedError, UnavailableError } from "../../shared/errors.js";
import { readJsonFile, str, writeJsonFile } from "../../shared/json.js";
import type { Reporter } from "../../shared/reporter.js";
import { findSystemExecutable } from "../../shared/run.js";
import type { HeyoHome } from "../../state/home.js";
import { withLock } from "../../state/lock.js";
import { INITRD_MODULES, TOOLS, buildKernel, sha256File, tool } from "./build.js";
import { VM_IMAGE_FILES } from "./files.js";

/**
 * An initrd's /init: loads its modules (with parameters given on the kernel command line as
 * `module.param=value`, as modprobe would), honours root=, rootflags=, rootfstype= and init=,
 * and switches to the root filesystem; defaultInit is what runs there without init=.
 */
export function initrdInit(defaultInit: string): string {
  return `#!/bin/sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
cmdline=$(cat /proc/cmdline)
params() { n=$(echo "$1" | tr - _); for a in $cmdline; do case $a in "$n".*=*) echo "\${a#"$n".}";; esac; done; }
for m in $(cat /modules.order); do insmod /lib/modules/$m $(params "\${m%.ko}") 2>/dev/null; done
root=/dev/vda; rootflags=rw; rootfstype=ext4; init=${defaultInit}
for a in $cmdline; do case $a in root=*) root=\${a#root=};; rootflags=*) rootflags=\${a#rootflags=};; rootfstype=*) rootfstype=\${a#rootfstype=};; init=*) init=\${a#init=};; esac; done
i=0; while [ ! -b "$root" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
if ! mount -t "$rootfstype" -o "$rootflags" "$root" /newroot; then echo "heyvm initrd: cannot mount $root (HEYVM_FAILED)"; exec sh; fi
umount /proc /sys; mount --move /dev /newroot/dev
exec switch_root /newroot "$init"
`;
}

/** The kit's initrd: like the default image's, plus init=, rootfstype= and module parameters. */
export const KIT_INITRD_INIT = initrdInit("/sbin/init");

/** The default image's modules, plus what Firecracker (vsock) and vfkit (virtio console) guests use. */
export const KIT_MODULES = [...INITRD_MODULES, "vmw_vsock_virtio_transport", "virtio_console"];

const KIT_MANIFEST = "kit.json";

/** A kernel kit on disk: the kernel files and a modules tree to copy into an image. */
export interface KernelKit {
  dir: string;
  kernelPackage: string;
  kernelVersion: string;
  /** Compressed kernel (bzImage), what goes to /boot/vmlinuz-lts. */
  vmlinuz: string;
  /** Uncompressed ELF kernel (PVH-bootable), for direct boot and Firecracker. */
  vmlinux: string;
  initrd: string;
  /** A folder holding lib/modules/<version>/ with the initrd's modules and their depmod files. */
  modulesRoot: string;
  checksums: Record<"vmlinuz" | "vmlinux" | "initrd", string>;
}

/** Where downloaded kernel packages and kits are kept: $HEYVM_IMAGE_CACHE, else images/.cache. */
export function imageCacheDir(home: HeyoHome, env: NodeJS.ProcessEnv = process.env): string {
  return env.HEYVM_IMAGE_CACHE || join(home.images, ".cache");
}

function readKit(dir: string): KernelKit | undefined {
  const raw = readJsonFile(join(dir, KIT_MANIFEST));
  const kernelPackage = raw && str(raw, "kernelPackage");
  const kernelVersion = raw && str(raw, "kernelVersion");
  const sums = raw?.checksums;
  if (!raw || !kernelPackage || !kernelVersion || typeof sums !== "object" || sums === null || Array.isArray(sums)) return undefined;
  const checksums = { vmlinuz: str(sums, "vmlinuz") ?? "", vmlinux: str(sums, "vmlinux") ?? "", initrd: str(sums, "initrd") ?? "" };
  const kit: KernelKit = {
    dir,
    kernelPackage,
    kernelVersion,
    vmlinuz: join(dir, VM_IMAGE_FILES.compressedKernel),
    vmlinux: join(dir, VM_IMAGE_FILES.kernel),
    initrd: join(dir, VM_IMAGE_FILES.initrd),
    modulesRoot: join(dir, "modules"),
    checksums,
  };
  return [kit.vmlinuz, kit.vmlinux, kit.initrd, join(kit.modulesRoot, "lib", "modules", kernelVersion)].every((path) => existsSync(path)) ? kit : undefined;
}

async function currentKernelPackage(): Promise<string> {
  const arch = process.arch === "x64" ? "amd64" : process.arch;
  if (arch !== "amd64") throw new UnavailableError(`heyvm's default kernel is built from Debian's linux-image-amd64, and this host is ${process.arch}`, "install a kernel in the image (Debian: linux-image-<arch> with initramfs-tools; Alpine: linux-lts)");
  const depends = await tool("apt-cache", ["depends", "linux-image-amd64"]);
  const kernelPackage = /Depends: (linux-image-[^\s]+)/.exec(depends)?.[1];
  if (!kernelPackage) throw new OperationFailedError("apt knows no linux-image-amd64 kernel", "run `apt-get update` first");
  return kernelPackage;
}

/** The modules of the initrd, copied with their own paths into root/lib/modules/<version>, with depmod's files. */
async function moduleTree(work: string, version: string, root: string): Promise<void> {
  const source = join(work, "kernel", "lib", "modules", version); // where buildKernel unpacked the .deb
  const order = join(work, "initrd", "modules.order"); // the initrd's modules, in load order
  if (!existsSync(source) || !existsSync(order)) throw new OperationFailedError("the kernel build left no module tree behind");
  const wanted = new Set(readFileSync(order, "utf8").split("\n").filter(Boolean));
  const target = join(root, "lib", "modules", version);
  for (const line of readFileSync(join(source, "modules.dep"), "utf8").split("\n")) {
    const path = line.split(":")[0];
    if (!path || !wanted.has(basename(path))) continue;
    mkdirSync(dirname(join(target, path)), { recursive: true });
    cpSync(join(source, path), join(target, path));
  }
  for (const file of ["modules.builtin", "modules.builtin.modinfo", "modules.order"]) {
    if (existsSync(join(source, file))) cpSync(join(source, file), join(target, file));
  }
  await tool("busybox", ["depmod", "-b", root, version]);
}

/** heyvm's kernel kit: the one in the cache, else one made (under a lock) from apt's current Debian kernel. */
export async function ensureKernelKit(home: HeyoHome, reporter: Reporter): Promise<KernelKit> {
  const missing = TOOLS.filter(([file]) => ["apt-get", "dpkg-deb", "busybox", "cpio", "xz"].includes(file) && !findSystemExecutable(file));
  if (missing.length > 0) {
    throw new UnavailableError(
      `injecting heyvm's default kernel needs ${missing.map(([file]) => file).join(", ")}`,
      `install them with \`apt-get install ${[...new Set(missing.map(([, pkg]) => pkg))].join(" ")}\`, or install a kernel in the image`,
    );
  }
  const cache = imageCacheDir(home);
  mkdirSync(cache, { recursive: true });
  // a kit made earlier is used as it is (asking apt costs seconds per build); removing the
  // cache folder makes the next build take the kernel apt has then
  const made = readdirSync(cache).filter((name) => name.startsWith("kernel-kit-")).map((name) => readKit(join(cache, name))).filter((kit) => kit !== undefined);
  const newest = made.sort((a, b) => statSync(b.dir).mtimeMs - statSync(a.dir).mtimeMs)[0];
  if (newest) return newest;
  const kernelPackage = await currentKernelPackage();
  const dir = join(cache, `kernel-kit-${kernelPackage}`);
  const ready = readKit(dir);
  if (ready) return ready;
  return withLock(home, `kernel-kit:${dir}`, 30 * 60_000, async () => {
    const again = readKit(dir);
    if (again) return again;
    reporter.progress(`preparing heyvm's default kernel (${kernelPackage}) for injection (first use only)`);
    const work = mkdtempSync(join(cache, ".kit-"));
    try {
      const out = join(work, "kit");
      mkdirSync(out);
      const facts = await buildKernel(cache, work, out, reporter, { init: KIT_INITRD_INIT, modules: KIT_MODULES });
      const version = facts.kernelVersion ?? "";
      await moduleTree(work, version, join(out, "modules"));
      const checksums = {
        vmlinuz: await sha256File(join(out, VM_IMAGE_FILES.compressedKernel)),
        vmlinux: await sha256File(join(out, VM_IMAGE_FILES.kernel)),
        initrd: await sha256File(join(out, VM_IMAGE_FILES.initrd)),
      };
      writeJsonFile(join(out, KIT_MANIFEST), { kernelPackage, kernelVersion: version, kernelFormat: facts.kernelFormat ?? "", modules: KIT_MODULES, checksums });
      rmSync(dir, { recursive: true, force: true });
      renameSync(out, dir);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    const kit = readKit(dir);
    if (!kit) throw new OperationFailedError(`the kernel kit in ${dir} is incomplete`);
    return kit;
  });
}
