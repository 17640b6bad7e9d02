// Builds the default VM image from the distribution's own packages (no downloads from anywhere
// else): Debian's kernel (linux-image-*), a tiny busybox initrd that loads the virtio modules and
// switches to the root disk, and a small mmdebstrap root filesystem with git, sshd and user heyo.
// The build happens in a temporary folder that is renamed into place at the end, so an
// interrupted build never leaves a half image behind.
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { spawn } from "node:child_process";
import type { Reporter } from "../../shared/reporter.js";
import { OperationFailedError, UnavailableError } from "../../shared/errors.js";
import { CommandFailedError, findSystemExecutable, run } from "../../shared/run.js";
import type { HeyoHome } from "../../state/home.js";
import { writeJsonFile } from "../../shared/json.js";
import { IMAGE_MANIFEST, type ImageManifest } from "../store.js";
import { shellQuote } from "../../shared/shell-quote.js";
import { CUSTOMIZE_SCRIPT, GUEST_FILES } from "./guest-files.js";

import { VM_IMAGE_FILES } from "./files.js";

/** Modules the initrd loads (with their dependencies), in this order. */
export const INITRD_MODULES = [
  "virtio_pci", "virtio_mmio", "virtio_blk", "crc32c_generic", "ext4", "virtio_net", "failover", "net_failover",
  "fuse", "virtiofs", "9pnet", "9pnet_virtio", "9p", "qemu_fw_cfg", "virtio-rng", "evdev", "button",
];

const INITRD_INIT = `#!/bin/sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.order); do insmod /lib/modules/$m 2>/dev/null; done
root=/dev/vda; rootflags=rw
for a in $(cat /proc/cmdline); do case $a in root=*) root=\${a#root=};; rootflags=*) rootflags=\${a#rootflags=};; esac; done
i=0; while [ ! -b "$root" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
if ! mount -t ext4 -o "$rootflags" "$root" /newroot; then echo "heyvm initrd: cannot mount $root (HEYVM_FAILED)"; exec sh; fi
umount /proc /sys; mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
`;

/** The tools an image build runs, with the Debian package that has each. */
export const TOOLS: Array<[string, string]> = [
  ["apt-get", "apt"],
  ["dpkg-deb", "dpkg"],
  ["mmdebstrap", "mmdebstrap"],
  ["busybox", "busybox-static"],
  ["cpio", "cpio"],
  ["mkfs.ext4", "e2fsprogs"],
  ["qemu-img", "qemu-utils"],
  ["xz", "xz-utils"],
];

export async function step<T>(reporter: Reporter, label: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  reporter.progress(label);
  const result = await fn();
  reporter.info(`  ${label}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

export async function tool(file: string, args: string[], options: { cwd?: string; timeout?: number } = {}): Promise<string> {
  try {
    return (await run(file, args, { cwd: options.cwd, timeout: options.timeout ?? 900_000, env: { ...process.env, LC_ALL: "C", DEBIAN_FRONTEND: "noninteractive" } })).stdout;
  } catch (error) {
    if (error instanceof CommandFailedError) {
      const tail = (error.result.stderr || error.result.stdout).trim().split("\n").slice(-8).join("\n");
      throw new OperationFailedError(`building the VM image failed at \`${basename(file)} ${args[0] ?? ""}\`:\n${tail}`);
    }
    throw error;
  }
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  // 4 MiB reads: a 472 MiB rootfs hashes in ~0.6 s instead of ~0.9 s with the default 64 KiB
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * Removes a build's work folder (mmdebstrap's root tree: thousands of files) without blocking the
 * event loop: removed synchronously, it held a cloud server's every request for 12–18 s at the end
 * of its first VM deploy.
 */
export function removeBuildFolder(work: string): Promise<void> {
  return rm(work, { recursive: true, force: true });
}

/** Finds the uncompressed ELF kernel inside a bzImage (what the kernel's extract-vmlinux does). */
export async function extractVmlinux(bzImage: string, out: string): Promise<boolean> {
  const image = readFileSync(bzImage);
  const xzMagic = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
  for (let at = image.indexOf(xzMagic); at !== -1; at = image.indexOf(xzMagic, at + 1)) {
    const ok = await new Promise<boolean>((resolve) => {
      const xz = spawn("xz", ["-dc"], { stdio: ["pipe", "pipe", "ignore"] });
      const chunks: Buffer[] = [];
      xz.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
      xz.on("error", () => resolve(false));
      xz.on("close", () => {
        const data = Buffer.concat(chunks);
        if (data.length > 4 && data.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) {
          writeFile(out, data).then(() => resolve(true), () => resolve(false)); // tens of MB: not on the event loop
        } else resolve(false);
      });
      xz.stdin.on("error", () => undefined);
      xz.stdin.end(image.subarray(at));
    });
    if (ok) return true;
  }
  return false;
}

/** The dependency closure of the wanted modules from modules.dep, in load order. */
function moduleClosure(modulesDep: string, builtin: string, wanted: readonly string[]): string[] {
  const deps = new Map<string, string[]>();
  for (const line of modulesDep.split("\n")) {
    const [module, rest] = line.split(":");
    if (module) deps.set(module, (rest ?? "").trim().split(/\s+/).filter(Boolean));
  }
  const order: string[] = [];
  const seen = new Set<string>();
  const add = (path: string) => {
    if (seen.has(path)) return;
    seen.add(path);
    for (const dep of deps.get(path) ?? []) add(dep);
    order.push(path);
  };
  for (const name of wanted) {
    const path = [...deps.keys()].find((p) => p.endsWith(`/${name}.ko`) || p.endsWith(`/${name.replace(/-/g, "_")}.ko`));
    if (path) add(path);
    else if (!builtin.includes(`/${name}.ko`)) throw new OperationFailedError(`the kernel has no module ${name}`);
  }
  return order;
}

/** What goes into the initrd: its /init and the modules it loads (the libvirt image's by default). */
export interface InitrdRecipe {
  init: string;
  modules: readonly string[];
}

/** Debian's kernel (uncompressed, and as shipped) and a busybox initrd, written into out. */
export async function buildKernel(cache: string, work: string, out: string, reporter: Reporter, recipe: InitrdRecipe = { init: INITRD_INIT, modules: INITRD_MODULES }): Promise<Record<string, string>> {
  const depends = await tool("apt-cache", ["depends", "linux-image-amd64"]);
  const kernelPackage = /Depends: (linux-image-[^\s]+)/.exec(depends)?.[1];
  if (!kernelPackage) throw new OperationFailedError("apt knows no linux-image-amd64 kernel", "run `apt-get update` first");
  const version = kernelPackage.replace(/^linux-image-/, "");
  if (!readdirSync(cache).some((f) => f.startsWith(`${kernelPackage}_`) && f.endsWith(".deb"))) {
    await step(reporter, `downloading ${kernelPackage}`, () => tool("apt-get", ["download", kernelPackage], { cwd: cache }));
  }
  const deb = readdirSync(cache).find((f) => f.startsWith(`${kernelPackage}_`) && f.endsWith(".deb"));
  if (!deb) throw new OperationFailedError(`apt-get download ${kernelPackage} left no .deb`);
  const kernelTree = join(work, "kernel");
  mkdirSync(kernelTree);
  await tool("dpkg-deb", ["-x", join(cache, deb), kernelTree]);
  copyFileSync(join(kernelTree, "boot", `vmlinuz-${version}`), join(out, VM_IMAGE_FILES.compressedKernel));
  // PVH-bootable ELF boots ~4 s faster than the compressed one under software emulation.
  const extracted = await step(reporter, "extracting the uncompressed kernel", () => extractVmlinux(join(out, VM_IMAGE_FILES.compressedKernel), join(out, VM_IMAGE_FILES.kernel)));
  if (!extracted) copyFileSync(join(out, VM_IMAGE_FILES.compressedKernel), join(out, VM_IMAGE_FILES.kernel));

  await step(reporter, "building the initrd", async () => {
    await tool("busybox", ["depmod", "-b", kernelTree, version]); // the .deb ships no modules.dep
    const moduleDir = join(kernelTree, "lib", "modules", version);
    const modules = moduleClosure(readFileSync(join(moduleDir, "modules.dep"), "utf8"), readFileSync(join(moduleDir, "modules.builtin"), "utf8"), recipe.modules);
    const initrd = join(work, "initrd");
    for (const sub of ["bin", "dev", "proc", "sys", "newroot", "lib/modules"]) mkdirSync(join(initrd, sub), { recursive: true });
    copyFileSync(findSystemExecutable("busybox") ?? "/bin/busybox", join(initrd, "bin", "busybox"));
    chmodSync(join(initrd, "bin", "busybox"), 0o755);
    symlinkSync("busybox", join(initrd, "bin", "sh")); // /init's interpreter
    for (const module of modules) copyFileSync(join(moduleDir, module), join(initrd, "lib", "modules", basename(module)));
    writeFileSync(join(initrd, "modules.order"), `${modules.map((m) => basename(m)).join("\n")}\n`);
    writeFileSync(join(initrd, "init"), recipe.init, { mode: 0o755 });
    const list = (await tool("find", [".", "-mindepth", "1"], { cwd: initrd })).split("\n").filter(Boolean).sort();
    const cpio = spawn("cpio", ["-o", "-H", "newc", "-R", "0:0", "--quiet"], { cwd: initrd, stdio: ["pipe", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    cpio.stdout.on("data", (chunk: Buffer) => chunks.push(chunk));
    const done = new Promise<number | null>((resolve) => cpio.on("close", resolve));
    cpio.stdin.end(`${list.join("\n")}\n`);
    if ((await done) !== 0) throw new OperationFailedError("cpio failed to pack the initrd");
    writeFileSync(join(out, VM_IMAGE_FILES.initrd), Buffer.concat(chunks));
  });
  return { kernelPackage, kernelVersion: version, kernelFormat: extracted ? "vmlinux (PVH)" : "bzImage" };
}

/** What a Debian root filesystem is made of: packages, heyvm's files, and a script run inside. */
export interface RootRecipe {
  /** mmdebstrap --include list. */
  packages: readonly string[];
  /** Path inside the root → content (scripts are made executable by the customize script). */
  files: Record<string, string>;
  /** A file among `files` that runs inside the new root (chroot) at the end. */
  customizeScript: string;
}

/** A small Debian root folder made by mmdebstrap from Debian's packages; returns its path. */
export async function debianRoot(work: string, reporter: Reporter, suite: string, recipe: RootRecipe): Promise<string> {
  const guest = join(work, "guest");
  for (const [path, content] of Object.entries(recipe.files)) {
    mkdirSync(dirname(join(guest, path)), { recursive: true });
    writeFileSync(join(guest, path), content, { mode: 0o755 });
  }
  const root = join(work, "rootfs");
  await step(reporter, `building the root filesystem with mmdebstrap (${recipe.packages.join(", ")})`, () =>
    tool("mmdebstrap", [
      "--variant=essential",
      `--include=${recipe.packages.join(",")}`,
      "--aptopt=APT::Install-Recommends \"false\"",
      "--dpkgopt=path-exclude=/usr/share/man/*",
      "--dpkgopt=path-exclude=/usr/share/doc/*",
      "--dpkgopt=path-include=/usr/share/doc/*/copyright",
      "--dpkgopt=path-exclude=/usr/share/locale/*",
      "--dpkgopt=path-exclude=/usr/share/info/*",
      "--dpkgopt=path-exclude=/usr/share/lintian/*",
      "--dpkgopt=path-exclude=/usr/share/bash-completion/*",
      `--customize-hook=cp -a ${shellQuote(`${guest}/.`)} "$1/"`,
      `--customize-hook=chroot "$1" /bin/sh ${recipe.customizeScript}`,
      suite,
      root,
    ]),
  );
  return root;
}

async function buildRootfs(work: string, out: string, reporter: Reporter, suite: string): Promise<void> {
  const root = await debianRoot(work, reporter, suite, { packages: ["git", "openssh-server", "busybox-static", "ca-certificates", "mount"], files: GUEST_FILES, customizeScript: CUSTOMIZE_SCRIPT });
  await step(reporter, "packing the root filesystem (ext4, qcow2)", async () => {
    const raw = join(work, "rootfs.raw");
    await tool("mkfs.ext4", ["-q", "-F", "-L", "heyvm-root", "-d", root, "-E", "lazy_itable_init=1,lazy_journal_init=1", "-m", "0", raw, "4G"]);
    await tool("qemu-img", ["convert", "-O", "qcow2", raw, join(out, VM_IMAGE_FILES.rootfs)]);
  });
}

/** An image's checksums (sha256 per role) and its size on disk (sparse files count what they hold). */
export async function describeImageFiles(out: string, files: Record<string, string>): Promise<{ checksums: Record<string, string>; sizeBytes: number }> {
  const roles = Object.entries(files);
  const sums = await Promise.all(roles.map(([, file]) => sha256File(join(out, file))));
  const checksums = Object.fromEntries(roles.map(([role], i) => [role, sums[i] ?? ""]));
  const sizeBytes = roles.reduce((total, [, file]) => total + statSync(join(out, file)).blocks * 512, 0);
  return { checksums, sizeBytes };
}

/** Writes image.json into the built folder and puts it in place of the image of that name. */
export function installImage(out: string, target: string, manifest: ImageManifest): void {
  writeJsonFile(join(out, IMAGE_MANIFEST), manifest);
  if (existsSync(target)) rmSync(target, { recursive: true, force: true });
  renameSync(out, target);
}

/** Refuses, saying what to install or how to run, unless the default image of a VM backend can be built here. */
export function requireDefaultImageTools(tools: ReadonlyArray<readonly [string, string]>, what: string, backendType: string): void {
  const missing = tools.filter(([file]) => !findSystemExecutable(file));
  if (missing.length > 0) {
    throw new UnavailableError(
      `building ${what} needs ${missing.map(([file]) => file).join(", ")}`,
      `install them with \`apt-get install ${[...new Set(missing.map(([, pkg]) => pkg))].join(" ")}\` (or run scripts/install.sh)`,
    );
  }
  if (process.getuid?.() !== 0) {
    throw new UnavailableError(`building ${what} needs root (mmdebstrap, a chroot)`, `run \`sudo heyvm images build --backend-type ${backendType}\` once`);
  }
}

/** Builds the default VM image into images/<backend>/default (replacing nothing on failure). */
export async function buildDefaultVmImage(home: HeyoHome, backend: ImageManifest["backend"], target: string, reporter: Reporter): Promise<ImageManifest> {
  requireDefaultImageTools(TOOLS, "the default VM image", "libvirt");
  const parent = dirname(target);
  mkdirSync(parent, { recursive: true });
  const cache = join(home.images, ".cache");
  mkdirSync(cache, { recursive: true });
  const work = mkdtempSync(join(parent, ".build-"));
  const out = join(work, "image");
  mkdirSync(out);
  const started = Date.now();
  reporter.progress(`building the default VM image (first use only; about a minute) in ${target}`);
  try {
    const kernel = await buildKernel(cache, work, out, reporter);
    const suite = (await tool("sh", ["-c", ". /etc/os-release && echo ${VERSION_CODENAME:-bookworm}"])).trim() || "bookworm";
    await buildRootfs(work, out, reporter, suite);
    const files: Record<string, string> = { ...VM_IMAGE_FILES };
    const { checksums, sizeBytes } = await describeImageFiles(out, files);
    const manifest: ImageManifest = {
      name: basename(target),
      backend,
      createdAt: new Date().toISOString(),
      files,
      checksums,
      sizeBytes,
      details: { ...kernel, suite, buildSeconds: Math.round((Date.now() - started) / 1000), guest: "busybox init + heyvm-init, openssh-server, git" },
    };
    installImage(out, target, manifest);
    reporter.info(`default VM image ready in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return manifest;
  } finally {
    await removeBuildFolder(work);
  }
}
