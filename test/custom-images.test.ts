// Custom images end to end with the real Docker engine: Dockerfiles with a `RUN apt-get install`
// step and a COPY, built for bubblewrap (wt --image), the firecracker format (booted under QEMU's
// microvm machine), apple_virt (built and checked: vfkit needs macOS), libvirt (wt --image, the
// earlier issues' guarantees), the kernel rule both ways, --platform, a failing RUN, no engine, no
// package manager, a rebuild of an image in use and `images rm` refusing. Every image and
// container a test makes is removed; the locally made base image is kept as a cache.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KIT_INITRD_INIT } from "../src/images/vm/kernel-kit.js";
import { hostPlatform } from "../src/images/custom/docker.js";
import { kvmStatus } from "../src/backends/kvm.js";
import { EngineJanitor, TEST_BASE, TEST_IMAGE_CACHE, engineSkipReason, ensureTestBase } from "./helpers/engine.js";
import { hasCommand, idOf, isAlive, makeTestEnv, waitFor, type RunResult, type TestEnv } from "./helpers/env.js";
import { checkWorkspaceBothWays } from "./helpers/workspace.js";
import { bootMicroVm, type MicroVm } from "./helpers/microvm.js";
import { netnsMissing, startTestNetwork, type TestNetwork } from "./helpers/netns.js";
import { writeStandInExecutable } from "./helpers/stand-in-bin.js";
import { vsockHelper } from "../src/backends/firecracker/host-side.js";

const engineSkip = engineSkipReason();
const bwrapSkip = engineSkip || (hasCommand("bwrap") ? false : "bubblewrap (bwrap) is not installed");
const microvmSkip = engineSkip || (["qemu-system-x86_64", "qemu-img", "ssh", "ssh-keygen", "apt-get", "dpkg-deb", "cpio", "xz"].find((tool) => !hasCommand(tool)) ?? false);

/** The firecracker backend on heyvm's QEMU stand-in for Firecracker (test/helpers/firecracker-stand-in.ts). */
function firecrackerSkip(): string | false {
  if (microvmSkip) return microvmSkip;
  for (const tool of ["setpriv", "dumpe2fs", "bwrap"]) if (!hasCommand(tool)) return `${tool} is not installed (scripts/install.sh installs it)`;
  if (!["/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server"].some((path) => existsSync(path))) return "openssh-sftp-server is not installed";
  if (!vsockHelper()) return "build/Release/heyvm-vsock-connect is not built (npm run build)";
  return false;
}

/** What a guest hears on a TCP port, or nothing (bash's /dev/tcp: it never half-closes). */
const TCP_PROBE = (host: string, port: number) => ["timeout", "10", "bash", "-c", `exec 3<>/dev/tcp/${host}/${port} && cat <&3`];

function libvirtSkip(): string | false {
  if (engineSkip) return engineSkip;
  for (const tool of ["virsh", "qemu-system-x86_64", "qemu-img", "ssh"]) if (!hasCommand(tool)) return `${tool} is not installed`;
  const virsh = spawnSync("virsh", ["-c", "qemu:///system", "uri"], { encoding: "utf8", timeout: 60_000 });
  return virsh.status === 0 ? false : `libvirtd is not reachable (${virsh.stderr.trim()}); run scripts/start-services.sh`;
}

/** Reading an image's layers in place needs root and the engine's overlay folders on this host. */
function layersSkip(): string | false {
  if (microvmSkip) return microvmSkip; // the same tools as the other VM-format builds
  if (process.getuid?.() !== 0) return "not root: builds always export the image here";
  if (!hasCommand("debugfs")) return "debugfs (e2fsprogs) is not installed";
  const driver = spawnSync("docker", ["info", "--format", "{{.Driver}}"], { encoding: "utf8" }).stdout.trim();
  return driver === "overlay2" || driver === "overlay" ? false : `the engine stores images with ${driver || "an unknown driver"}, not overlay folders: builds export them`;
}

const APP = `FROM ${TEST_BASE}
RUN apt-get update && apt-get install -y --no-install-recommends hello && rm -rf /var/lib/apt/lists/*
COPY greeting.txt /opt/greeting.txt
`;

/** The same with an SSH server of its own (the guest-contract step then installs nothing). */
const APP_WITH_SSHD = `FROM ${TEST_BASE}
RUN apt-get update && apt-get install -y --no-install-recommends hello openssh-server && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_*
COPY greeting.txt /opt/greeting.txt
`;

const FAILING = `FROM ${TEST_BASE}
RUN echo about-to-fail-on-purpose && exit 7
`;

interface Manifest {
  files: Record<string, string>;
  checksums: Record<string, string>;
  sizeBytes: number;
  details: { kernelOrigin: string; kernelInImage?: string; engineImageId: string; dockerfileSha256: string; platform: string; context: string; rootfsSizeMiB?: number; boot: { cmdline?: string; rootfsFormat: string; workspace?: string; guestContract?: string }; buildPhasesMs?: Record<string, number> };
}

function sha256(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

function inspectParent(id: string): string {
  return spawnSync("docker", ["image", "inspect", "--format", "{{.Parent}}", id], { encoding: "utf8" }).stdout.trim();
}

describe("custom images from a Dockerfile (real engine)", { skip: engineSkip }, () => {
  let t: TestEnv;
  let janitor: EngineJanitor;
  let files: string;
  const vms: MicroVm[] = [];
  const heyvm = (args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> =>
    t.run(args, { cwd: options.cwd, env: { HEYVM_IMAGE_CACHE: TEST_IMAGE_CACHE, ...options.env }, timeoutMs: options.timeoutMs ?? 1_200_000 });
  const manifest = (backend: string, name: string): Manifest => JSON.parse(readFileSync(join(t.home, "images", backend, name, "image.json"), "utf8")) as Manifest;
  const dockerfile = (name: string, text: string): string => {
    writeFileSync(join(files, name), text);
    return join(files, name);
  };

  before(() => {
    ensureTestBase();
    janitor = new EngineJanitor();
    t = makeTestEnv("heyvm-img-");
    files = join(t.root, "dockerfiles");
    mkdirSync(files);
    writeFileSync(join(files, "greeting.txt"), "greetings from COPY v1\n");
  });
  after(async () => {
    for (const vm of vms) await vm.stop();
    await t.cleanup();
    janitor.cleanup();
  });

  test("bubblewrap: the image's root folder is the sandbox's read-only root, /workspace live both ways", { skip: bwrapSkip, timeout: 1_200_000 }, async () => {
    const build = await heyvm(["images", "build", "--backend", "bubblewrap", "--file", dockerfile("app.Dockerfile", APP), "--name", "app", "--platform", hostPlatform(), "--json"]);
    assert.equal(build.code, 0, build.stderr);
    assert.match(build.stderr, /│ Step \d\/\d : RUN apt-get update/, "the engine's own output is streamed as progress");
    const built = JSON.parse(build.stdout) as { path: string; backend: string; engine_image_id: string };
    assert.equal(built.backend, "bubblewrap");
    const image = manifest("bubblewrap", "app");
    assert.equal(image.files.rootfs, "rootfs");
    assert.equal(image.details.dockerfileSha256, sha256(APP));
    assert.equal(image.details.platform, hostPlatform(), "built for the platform --platform named");
    assert.match(image.details.engineImageId, /^sha256:[0-9a-f]{64}$/);
    assert.ok(existsSync(join(built.path, "rootfs", "usr", "bin", "hello")), "the RUN step's package is in the exported root");
    assert.ok(!existsSync(join(built.path, "rootfs", ".dockerenv")));
    assert.equal(janitor.newContainers().length, 0, "the export's container is removed");

    const started = Date.now();
    const wt = await heyvm(["wt", "bw/app", "--backend", "bubblewrap", "--image", "app", "--detach"]);
    assert.equal(wt.code, 0, wt.stderr);
    const id = idOf(wt.stdout);
    assert.ok(Date.now() - started < 15_000);
    const tools = await heyvm(["exec", id, "--", "sh", "-c", "hello; cat /opt/greeting.txt; . /etc/os-release; echo $ID; id -un"]);
    assert.equal(tools.code, 0, tools.stderr);
    assert.equal(tools.stdout, "Hello, world!\ngreetings from COPY v1\ndebian\nheyo\n");
    const worktree = join(t.root, "bw-app");
    writeFileSync(join(worktree, "from-host.txt"), "host\n");
    const both = await heyvm(["exec", id, "--", "sh", "-c", "cat from-host.txt && echo guest > from-guest.txt"]);
    assert.equal(both.stdout, "host\n", both.stderr);
    assert.equal(readFileSync(join(worktree, "from-guest.txt"), "utf8"), "guest\n");
    const readOnly = await heyvm(["exec", id, "--", "sh", "-c", "touch /usr/x"]);
    assert.notEqual(readOnly.code, 0, "the image's root is read-only");
    assert.match(readOnly.stderr, /Read-only file system/);
  });

  test("a failing RUN step: the engine's last lines, a non-zero exit, nothing half-made, the earlier image intact", { skip: bwrapSkip, timeout: 600_000 }, async () => {
    const before = readFileSync(join(t.home, "images", "bubblewrap", "app", "image.json"), "utf8");
    const failed = await heyvm(["images", "build", "--backend", "bubblewrap", "--file", dockerfile("fail.Dockerfile", FAILING), "--name", "app"]);
    assert.equal(failed.code, 6, failed.stderr);
    assert.match(failed.stderr, /docker build failed \(exit code \d+\); the engine's last lines:/);
    assert.match(failed.stderr, /about-to-fail-on-purpose/);
    assert.doesNotMatch(failed.stderr, /\n\s+at /, "no stack trace");
    assert.equal(readFileSync(join(t.home, "images", "bubblewrap", "app", "image.json"), "utf8"), before, "the earlier image of that name is untouched");
    assert.deepEqual(readdirSync(join(t.home, "images", "bubblewrap")), ["app"], "no temporary build folder is left");
    assert.equal(janitor.newContainers().length, 0, "no container is left");
  });

  test("a rebuild of an image in use: the running sandbox keeps its root, its next start gets the new one; images rm refuses meanwhile", { skip: bwrapSkip, timeout: 1_200_000 }, async () => {
    const list = JSON.parse((await heyvm(["list", "--json"])).stdout) as Array<{ id: string; name: string }>;
    const id = list.find((row) => row.name === "wt-bw-app")?.id ?? "";
    assert.ok(id);
    const refused = await heyvm(["images", "rm", "app", "--backend-type", "bubblewrap"]);
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(refused.stderr, new RegExp(`image app is used by ${id}`));
    writeFileSync(join(files, "greeting.txt"), "greetings from COPY v2\n");
    const rebuilt = await heyvm(["images", "build", "--backend", "bubblewrap", "--file", join(files, "app.Dockerfile"), "--name", "app"]);
    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    assert.match(rebuilt.stderr, /Using cache/, "the Dockerfile's own layers were kept as the cache");
    const running = await heyvm(["exec", id, "--", "cat", "/opt/greeting.txt"]);
    assert.equal(running.stdout, "greetings from COPY v1\n", `the running sandbox still has its root: ${running.stderr}`);
    assert.equal((await heyvm(["stop", id])).code, 0);
    const again = await heyvm(["wt", "bw/app", "--detach"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((await heyvm(["exec", id, "--", "cat", "/opt/greeting.txt"])).stdout, "greetings from COPY v2\n");
    assert.equal((await heyvm(["stop", id])).code, 0);
    assert.equal((await heyvm(["rm", id, "-y"])).code, 0);
    const removed = await heyvm(["images", "rm", "app", "--backend-type", "bubblewrap"]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual(readdirSync(join(t.home, "images", "bubblewrap")), [], "the image and its retired copy are gone");
    assert.notEqual(spawnSync("docker", ["image", "inspect", "localhost/heyvm/app:bubblewrap"]).status, 0, "the engine tag went with it");
  });

  test("no engine: one line saying how to start one, before anything is built", async () => {
    const result = await heyvm(["images", "build", "--backend", "libvirt", "--file", join(files, "app.Dockerfile"), "--name", "x"], { env: { DOCKER_HOST: "unix:///nonexistent/docker.sock" } });
    assert.equal(result.code, 5);
    assert.match(result.stderr, /no Docker engine answers at \/nonexistent\/docker\.sock/);
    assert.match(result.stderr, /Docker Desktop; or `apt-get install docker\.io` and run `dockerd`; or Podman's socket/);
    assert.ok(!existsSync(join(t.home, "images", "libvirt", "x")));
  });

  test("--platform: a VM image for another architecture is refused before any build; a malformed one is a usage error", async () => {
    const other = hostPlatform() === "linux/arm64" ? "linux/amd64" : "linux/arm64";
    const foreign = await heyvm(["images", "build", "--backend-type", "libvirt", "--file", join(files, "app.Dockerfile"), "--name", "foreign", "--platform", other]);
    assert.equal(foreign.code, 2, foreign.stderr);
    assert.match(foreign.stderr, new RegExp(`a libvirt image for ${other} cannot be built on this ${hostPlatform()} host`));
    assert.doesNotMatch(foreign.stderr, /Step \d/, "the engine was not asked to build");
    const malformed = await heyvm(["images", "build", "--backend", "bubblewrap", "--file", join(files, "app.Dockerfile"), "--name", "foreign", "--platform", "amd64 please"]);
    assert.equal(malformed.code, 2, malformed.stderr);
    assert.match(malformed.stderr, /--platform takes an engine platform such as linux\/amd64/);
    assert.ok(!existsSync(join(t.home, "images", "libvirt", "foreign")) && !existsSync(join(t.home, "images", "bubblewrap", "foreign")));
  });

  test("firecracker format with heyvm's kernel injected: boots under QEMU microvm, HEYVM_READY, SSH login runs the image's tools", { skip: microvmSkip, timeout: 1_500_000 }, async () => {
    const build = await heyvm(["images", "build", "--backend-type", "firecracker", "--file", dockerfile("sshd.Dockerfile", APP_WITH_SSHD), "--name", "fc"]);
    assert.equal(build.code, 0, build.stderr);
    assert.match(build.stderr, /root filesystem: automatic: content \d+ MiB × 1\.2 \+ 64 MiB/, "says which size it chose");
    const image = manifest("firecracker", "fc");
    assert.deepEqual(image.files, { kernel: "vmlinux", initrd: "initrd", rootfs: "rootfs.ext4" });
    assert.equal(image.details.kernelOrigin, "injected");
    assert.equal(image.details.boot.cmdline, "console=ttyS0 reboot=k panic=1 pci=off root=/dev/vda rw rootfstype=ext4 init=/init.sh");
    const dir = join(t.home, "images", "firecracker", "fc");
    for (const role of ["kernel", "initrd", "rootfs"] as const) assert.equal(image.checksums[role], sha256(readFileSync(join(dir, image.files[role]))), `${role} checksum`);
    assert.deepEqual(readFileSync(join(dir, "vmlinux")).subarray(0, 4), Buffer.from([0x7f, 0x45, 0x4c, 0x46]), "an uncompressed ELF kernel");
    assert.equal(statSync(join(dir, "rootfs.ext4")).size, (image.details.rootfsSizeMiB ?? 0) * 1024 * 1024);
    const fileType = spawnSync("file", ["-b", join(dir, "rootfs.ext4")], { encoding: "utf8" }).stdout;
    if (fileType) assert.match(fileType, /ext4 filesystem data.*heyvm-root/);
    for (const id of janitor.newImages()) assert.notEqual(inspectParent(id), image.details.engineImageId, "the guest-contract step's image is removed");

    const vm = await bootMicroVm(dir, join(t.root, "microvm-fc"), kvmStatus().usable);
    vms.push(vm);
    await waitFor(() => /HEYVM_READY|HEYVM_FAILED|Kernel panic/.test(vm.serial()), 400_000, "HEYVM_READY on the microvm console");
    assert.match(vm.serial(), /HEYVM_READY/, vm.serial().slice(-3000));
    assert.doesNotMatch(vm.serial(), /IMAGE-OWN-INITRAMFS/);
    let login = vm.ssh("true");
    for (let i = 0; login.code !== 0 && i < 20; i++) login = vm.ssh("true");
    const tools = vm.ssh("id -un; hostname; hello; cat /opt/greeting.txt; cat /proc/cmdline");
    assert.equal(tools.code, 0, tools.stderr);
    assert.match(tools.stdout, /^heyo\nmicrovm-test\nHello, world!\ngreetings from COPY v\d\n.*init=\/init\.sh/);
    await vm.stop();
  });

  test("no SSH server and no package manager heyvm knows: the build fails saying what to add to the Dockerfile, nothing half-made", { skip: microvmSkip, timeout: 900_000 }, async () => {
    const bare = dockerfile("bare.Dockerfile", `FROM ${TEST_BASE}\nRUN rm -f /usr/bin/apt-get /usr/bin/apt /usr/bin/dpkg\n`);
    const failed = await heyvm(["images", "build", "--backend-type", "libvirt", "--file", bare, "--name", "bare"]);
    assert.equal(failed.code, 6, failed.stderr);
    assert.match(failed.stderr, /the image cannot get heyvm's guest contract: no sshd and no package manager heyvm knows \(apt, apk, dnf\)/);
    assert.match(failed.stderr, /add an SSH server to the Dockerfile \(Debian\/Ubuntu: RUN apt-get install -y openssh-server; Alpine: RUN apk add openssh-server/);
    assert.doesNotMatch(failed.stderr, /\n\s+at /, "no stack trace");
    assert.ok(!existsSync(join(t.home, "images", "libvirt", "bare")), "no image of that name");
    const libvirtImages = join(t.home, "images", "libvirt");
    assert.ok(!existsSync(libvirtImages) || !readdirSync(libvirtImages).some((name) => name.includes("bare")), "no temporary build folder is left");
    assert.equal(janitor.newContainers().length, 0, "no container is left");
  });

  test("kernel in the image (/boot/vmlinuz-lts + /boot/initramfs-lts): that kernel and initrd are used, not heyvm's", { skip: microvmSkip, timeout: 1_500_000 }, async () => {
    const kit = readdirSync(TEST_IMAGE_CACHE).find((name) => name.startsWith("kernel-kit-"));
    assert.ok(kit, "the previous test made heyvm's kernel kit");
    const context = join(t.root, "own-kernel");
    mkdirSync(join(context, "initrd-extra"), { recursive: true });
    writeFileSync(join(context, "vmlinuz-lts"), readFileSync(join(TEST_IMAGE_CACHE, kit, "vmlinuz")));
    // an initramfs of the image's own: heyvm's with an /init that says who it is (cpio archives concatenate)
    writeFileSync(join(context, "initrd-extra", "init"), KIT_INITRD_INIT.replace("#!/bin/sh\n", "#!/bin/sh\necho IMAGE-OWN-INITRAMFS\n"), { mode: 0o755 });
    const extra = spawnSync("cpio", ["-o", "-H", "newc", "-R", "0:0", "--quiet"], { cwd: join(context, "initrd-extra"), input: "init\n" });
    assert.equal(extra.status, 0);
    const initramfs = Buffer.concat([readFileSync(join(TEST_IMAGE_CACHE, kit, "initrd")), extra.stdout]);
    writeFileSync(join(context, "initramfs-lts"), initramfs);
    writeFileSync(join(context, "Dockerfile"), "FROM localhost/heyvm/fc:firecracker\nCOPY vmlinuz-lts initramfs-lts /boot/\n");
    const build = await heyvm(["images", "build", "--backend-type", "firecracker", "--file", join(context, "Dockerfile"), "--name", "own-kernel", "--size-mb", "900"]);
    assert.equal(build.code, 0, build.stderr);
    assert.match(build.stderr, /kernel: the image's own \/boot\/vmlinuz-lts/);
    const image = manifest("firecracker", "own-kernel");
    assert.equal(image.details.kernelOrigin, "image");
    assert.equal(image.details.kernelInImage, "/boot/vmlinuz-lts");
    assert.equal(image.checksums.initrd, sha256(initramfs), "the image's initramfs-lts is the format's initrd");
    assert.equal(image.details.rootfsSizeMiB, 900, "--size-mb is the root filesystem's size");

    // a Debian-style kernel (vmlinuz-<version> with its initrd.img-<version>) counts too
    writeFileSync(join(context, "Dockerfile.debian"), "FROM localhost/heyvm/fc:firecracker\nCOPY vmlinuz-lts /boot/vmlinuz-6.1.0-test\nCOPY initramfs-lts /boot/initrd.img-6.1.0-test\n");
    const debian = await heyvm(["images", "build", "--backend-type", "libvirt", "--file", join(context, "Dockerfile.debian"), "--name", "debian-kernel"]);
    assert.equal(debian.code, 0, debian.stderr);
    const debianImage = manifest("libvirt", "debian-kernel");
    assert.equal(debianImage.details.kernelOrigin, "image");
    assert.equal(debianImage.details.kernelInImage, "/boot/vmlinuz-6.1.0-test");
    assert.equal(debianImage.files.kernel, "vmlinuz", "libvirt boots the image's own kernel as shipped");
    assert.equal(debianImage.checksums.kernel, sha256(readFileSync(join(context, "vmlinuz-lts"))));
    assert.equal(debianImage.checksums.initrd, sha256(initramfs));

    const vm = await bootMicroVm(join(t.home, "images", "firecracker", "own-kernel"), join(t.root, "microvm-own"), kvmStatus().usable);
    vms.push(vm);
    await waitFor(() => /HEYVM_READY|HEYVM_FAILED|Kernel panic/.test(vm.serial()), 400_000, "HEYVM_READY on the microvm console");
    assert.match(vm.serial(), /IMAGE-OWN-INITRAMFS[\s\S]*HEYVM_READY/, vm.serial().slice(-3000));
    let login = vm.ssh("hello");
    for (let i = 0; login.code !== 0 && i < 20; i++) login = vm.ssh("hello");
    assert.equal(login.stdout, "Hello, world!\n", login.stderr);
    await vm.stop();
  });

  test("apple_virt format: disk.img (raw ext4) + the kernel as shipped + initrd, for vfkit (which needs macOS: built and checked here, not booted)", { skip: microvmSkip, timeout: 900_000 }, async () => {
    // the Dockerfile away from its context: --context says where COPY reads from
    const elsewhere = join(t.root, "dockerfile-elsewhere");
    mkdirSync(elsewhere);
    writeFileSync(join(elsewhere, "Dockerfile"), APP_WITH_SSHD);
    const build = await heyvm(["images", "build", "--backend-type", "apple_virt", "--file", join(elsewhere, "Dockerfile"), "--context", files, "--name", "mac"]);
    assert.equal(build.code, 0, build.stderr);
    const image = manifest("apple_virt", "mac");
    assert.equal(image.details.context, files);
    assert.deepEqual(image.files, { kernel: "vmlinuz", initrd: "initrd", rootfs: "disk.img" });
    assert.equal(image.details.kernelOrigin, "injected");
    assert.equal(image.details.boot.rootfsFormat, "raw");
    assert.equal(image.details.boot.cmdline, "console=hvc0 root=/dev/vda rw rootfstype=ext4 init=/init.sh");
    const dir = join(t.home, "images", "apple_virt", "mac");
    for (const role of ["kernel", "initrd", "rootfs"] as const) assert.equal(image.checksums[role], sha256(readFileSync(join(dir, image.files[role]))), `${role} checksum`);
    assert.notDeepEqual(readFileSync(join(dir, "vmlinuz")).subarray(0, 4), Buffer.from([0x7f, 0x45, 0x4c, 0x46]), "the kernel as shipped (a bzImage), not the uncompressed ELF");
    assert.equal(readFileSync(join(dir, "vmlinuz")).subarray(0x202, 0x206).toString("latin1"), "HdrS", "a Linux boot-protocol kernel image");
    assert.equal(statSync(join(dir, "disk.img")).size, (image.details.rootfsSizeMiB ?? 0) * 1024 * 1024);
    const fileType = spawnSync("file", ["-b", join(dir, "disk.img")], { encoding: "utf8" }).stdout;
    if (fileType) assert.match(fileType, /ext4 filesystem data.*heyvm-root/);
    assert.equal((await heyvm(["images", "rm", "mac", "--backend-type", "apple_virt"])).code, 0);
    assert.ok(!existsSync(dir));
  });

  test("the image's layers read in place give the same root filesystem as an export (HEYVM_IMAGE_EXPORT=1)", { skip: layersSkip(), timeout: 900_000 }, async () => {
    // libvirt's format: the image has all its contract needs (sshd), so both builds add it over the
    // tree with the same script; a final engine step would install packages twice, with other logs
    const file = dockerfile("sshd.Dockerfile", APP_WITH_SSHD);
    const inPlace = await heyvm(["images", "build", "--backend-type", "libvirt", "--file", file, "--name", "same-layers"]);
    assert.equal(inPlace.code, 0, inPlace.stderr);
    const exported = await heyvm(["images", "build", "--backend-type", "libvirt", "--file", file, "--name", "same-export"], { env: { HEYVM_IMAGE_EXPORT: "1" } });
    assert.equal(exported.code, 0, exported.stderr);
    assert.ok("layers" in (manifest("libvirt", "same-layers").details.buildPhasesMs ?? {}), "read in place");
    assert.ok("export" in (manifest("libvirt", "same-export").details.buildPhasesMs ?? {}), "exported");
    assert.doesNotMatch(inPlace.stderr, /could not be read in place/);
    // both root filesystems dumped (debugfs: no mount) and listed: names, owners, sizes, link targets, contents
    const listing = (name: string): string => {
      const dump = join(t.root, `dump-${name}`);
      mkdirSync(dump);
      const rootfs = join(t.home, "images", "libvirt", name, "rootfs.ext4");
      const rdump = spawnSync("debugfs", ["-R", `rdump / ${dump}`, rootfs], { encoding: "utf8" });
      assert.equal(rdump.status, 0, rdump.stderr);
      const modes = ["/etc", "/usr/bin", "/"].map((dir) => spawnSync("debugfs", ["-R", `ls -p ${dir}`, rootfs], { encoding: "utf8" }).stdout.split("\n").map((line) => line.split("/").filter((_, i) => [2, 3, 4, 5, 6].includes(i)).join(" ")).join("\n")).join("\n");
      const tree = spawnSync("sh", ["-c", "find . -printf '%p %U %G %s %l %y\\n' | sort && find . -type f -exec sha256sum {} + | sort -k2"], { cwd: dump, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }).stdout;
      return `${modes}\n${tree}`;
    };
    const a = listing("same-layers");
    const b = listing("same-export");
    assert.ok(a.includes("./etc/mtab 0 0 12 /proc/mounts l"), "the engine's init layer is there as in an export");
    assert.ok(!/^\.\/dev\/./m.test(a), "no /dev nodes");
    assert.equal(a, b);
    for (const name of ["same-layers", "same-export"]) assert.equal((await heyvm(["images", "rm", name, "--backend-type", "libvirt"])).code, 0);
  });

  test("a build killed with -9 while it packs: the earlier image intact, no mount left, its folder and container cleared by the next build", { skip: layersSkip(), timeout: 900_000 }, async () => {
    const file = dockerfile("sshd.Dockerfile", APP_WITH_SSHD);
    assert.equal((await heyvm(["images", "build", "--backend-type", "firecracker", "--file", file, "--name", "killed"])).code, 0);
    const parent = join(t.home, "images", "firecracker");
    const before = readFileSync(join(parent, "killed", "image.json"), "utf8");
    const child = t.spawn(["images", "build", "--backend-type", "firecracker", "--file", file, "--name", "killed"], { env: { HEYVM_IMAGE_CACHE: TEST_IMAGE_CACHE } });
    let stderr = "";
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const exited = new Promise((resolve) => child.on("close", resolve));
    await waitFor(() => /packing the root filesystem/.test(stderr) || child.exitCode !== null, 600_000, "the build to reach mke2fs");
    assert.equal(child.exitCode, null, stderr);
    const folders = () => readdirSync(parent).filter((name) => name.startsWith(".build-killed-"));
    assert.equal(folders().length, 1, "the build's folder");
    const folder = folders()[0] ?? "";
    // the image's layers are mounted in a namespace of the build's own, never on the host
    const mounted = () => readdirSync("/proc").filter((pid) => /^\d+$/.test(pid)).some((pid) => {
      try {
        return readFileSync(`/proc/${pid}/mountinfo`, "utf8").includes(join(parent, folder));
      } catch {
        return false;
      }
    });
    assert.ok(mounted(), "the layers are mounted while it packs");
    assert.ok(!readFileSync("/proc/self/mountinfo", "utf8").includes(join(parent, folder)), "not in the host's mount namespace");
    child.kill("SIGKILL");
    await exited;
    assert.deepEqual(folders(), [folder], "the killed build's folder is left until the next build");
    const labelled = () => spawnSync("docker", ["ps", "-a", "-q", "--filter", `label=heyvm.build=${folder}`], { encoding: "utf8" }).stdout.trim();
    assert.notEqual(labelled(), "", "the pin container is there after the kill");
    // the mount namespace goes with its holder (pdeathsig) once mke2fs, run inside it, has ended
    await waitFor(() => !mounted(), 120_000, "no process to keep the image's layers mounted");
    assert.equal(readFileSync(join(parent, "killed", "image.json"), "utf8"), before, "the earlier image is intact");
    const next = await heyvm(["images", "build", "--backend-type", "firecracker", "--file", file, "--name", "killed"]);
    assert.equal(next.code, 0, next.stderr);
    assert.equal(labelled(), "", "the killed build's container is removed");
    assert.ok(!folders().includes(folder), "the killed build's folder is cleared");
    assert.equal((await heyvm(["images", "rm", "killed", "--backend-type", "firecracker"])).code, 0);
  });

  test("images list shows backend, size, kernel origin and age; --format json", async () => {
    const json = await heyvm(["images", "list", "--format", "json"]);
    assert.equal(json.code, 0, json.stderr);
    const rows = JSON.parse(json.stdout) as Array<{ name: string; backend: string; size_bytes: number; kernel_origin: string; created_at: string; source: string }>;
    const fc = rows.find((row) => row.name === "fc");
    if (fc) {
      assert.equal(fc.backend, "firecracker");
      assert.equal(fc.kernel_origin, "injected");
      assert.equal(fc.source, "dockerfile");
      assert.ok(fc.size_bytes > 10 * 1024 * 1024);
      assert.ok(Date.now() - Date.parse(fc.created_at) < 3600_000);
      const table = await heyvm(["images", "list"]);
      assert.match(table.stdout, /^NAME\s+BACKEND\s+SIZE\s+KERNEL\s+AGE\s+PATH$/m);
      assert.match(table.stdout, /^fc\s+firecracker\s+\d+ MiB\s+injected\s+\d+[smh]\s/m);
    }
    assert.ok(!rows.some((row) => row.name.startsWith(".") || row.backend.startsWith(".")), "caches and build folders are not images");
  });

  // As root, heyvm gives a firecracker sandbox a TAP with NAT: then every heyvm command of the
  // sandbox runs in a network namespace standing in for the host (test/helpers/netns.ts), and the
  // guest's "outside" is the peer namespace. Without root it runs without network.
  describe("firecracker: wt --image boots the built image on the stand-in", { skip: firecrackerSkip() }, () => {
    let network: TestNetwork | undefined;
    let prefix: string[] = [];
    let standIn = "";
    let id = "";
    const branch = "fc/custom";
    const worktree = () => join(t.root, "fc-custom");
    const fc = (args: string[], timeoutMs = 600_000) => t.run(args, { prefix, env: { HEYVM_IMAGE_CACHE: TEST_IMAGE_CACHE, HEYVM_FIRECRACKER: standIn }, timeoutMs });
    before(async () => {
      standIn = writeStandInExecutable(t.root);
      if (!netnsMissing()) {
        network = await startTestNetwork({ ownHost: true });
        prefix = network.wrap([]);
      }
    });
    after(async () => {
      if (id) {
        const ownerFile = join(t.home, "sandboxes", id, "owner.json");
        const pid = existsSync(ownerFile) ? (JSON.parse(readFileSync(ownerFile, "utf8")) as { pid?: number }).pid : undefined;
        await fc(["stop", id], 120_000).catch(() => undefined);
        if (pid && isAlive(pid)) process.kill(pid, "SIGKILL"); // its Firecracker (stand-in) dies with it
      }
      await network?.cleanup(); // the namespace takes any TAP left in it along
    });

    test("an image without sshd, sshfs or socat gets them; the sandbox runs the image's tools and /workspace is the live worktree both ways", { timeout: 1_800_000 }, async () => {
      // built on this machine's own network (the RUN step and the contract's apt-get download packages)
      const build = await t.run(["images", "build", "--backend-type", "firecracker", "--file", dockerfile("fc-app.Dockerfile", APP), "--name", "fc-app"], { env: { HEYVM_IMAGE_CACHE: TEST_IMAGE_CACHE }, timeoutMs: 1_200_000 });
      assert.equal(build.code, 0, build.stderr);
      assert.match(build.stderr, /the image has no SSH server, sshfs, socat; adding them with its package manager/, "the contract's programs come from the image's own package manager");
      const image = manifest("firecracker", "fc-app");
      assert.equal(image.details.boot.workspace, "sshfs-over-vsock", "image.json tells the backend to open the /workspace channel");
      assert.match(image.details.boot.guestContract ?? "", /sshfs from an SFTP session the host opens on vsock port 10001/);

      const wt = await fc(["wt", branch, "--backend", "firecracker", "--image", "fc-app", "--detach", ...(network ? [] : ["--no-network"])]);
      assert.equal(wt.code, 0, wt.stderr);
      id = idOf(wt.stdout);
      assert.doesNotMatch(wt.stderr, /no \/workspace channel/);
      if (network) assert.match(wt.stderr, /network: TAP hv[0-9a-f]{8}/);
      const tools = await fc(["exec", id, "--", "sh", "-c", "hello; cat /opt/greeting.txt; pwd; cat /proc/cmdline"]);
      assert.equal(tools.code, 0, tools.stderr);
      assert.match(tools.stdout, /^Hello, world!\ngreetings from COPY v\d\n\/workspace\n.*init=\/init\.sh/, "the image's own tools, in /workspace");

      await checkWorkspaceBothWays(fc, id, worktree(), { hostEditSeen: true });
      const config = join(t.repo, ".git", "config");
      const planted = await fc(["exec", id, "--", "sh", "-c", `echo '[core]' >> ${config}`]);
      assert.notEqual(planted.code, 0, "the repository's config cannot be written from inside");
      assert.doesNotMatch(readFileSync(config, "utf8"), /\[core\]\n$/);
      if (network) {
        const peer = await fc(["exec", id, "--", ...TCP_PROBE(network.peerAddress, network.peerPort)]);
        assert.equal(peer.stdout.trim(), "hello from the peer", `the guest's TAP NIC, found by its MAC: ${peer.stderr}`);
      }

      const stop = await fc(["stop", id]);
      assert.equal(stop.code, 0, stop.stderr);
      assert.match((await fc(["logs", id])).stdout, /HEYVM_POWEROFF/, "Ctrl-Alt-Del: the custom guest's init shut down cleanly");
      const again = await fc(["wt", branch, "--detach", ...(network ? [] : ["--no-network"])]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal((await fc(["exec", id, "--", "cat", "from-guest.txt"])).stdout, "guest\n", "/workspace again after a restart");
      assert.equal((await fc(["stop", id])).code, 0);
    });

    test("an image with neither sshfs nor a package manager: the build fails saying what to add to the Dockerfile", { timeout: 900_000 }, async () => {
      const bare = dockerfile("fc-bare.Dockerfile", `FROM ${TEST_BASE}\nRUN apt-get update && apt-get install -y --no-install-recommends openssh-server && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_* && rm -f /usr/bin/apt-get /usr/bin/apt /usr/bin/dpkg\n`);
      const failed = await t.run(["images", "build", "--backend-type", "firecracker", "--file", bare, "--name", "fc-bare"], { env: { HEYVM_IMAGE_CACHE: TEST_IMAGE_CACHE }, timeoutMs: 900_000 });
      assert.equal(failed.code, 6, failed.stderr);
      assert.match(failed.stderr, /the image cannot get heyvm's guest contract: no sshfs, socat and no package manager heyvm knows \(apt, apk, dnf\)/);
      assert.match(failed.stderr, /add sshfs and socat to the Dockerfile \(Debian\/Ubuntu: RUN apt-get install -y sshfs socat; Alpine: RUN apk add sshfs socat; Fedora: RUN dnf install -y fuse-sshfs socat\)/);
      assert.ok(!existsSync(join(t.home, "images", "firecracker", "fc-bare")), "nothing half-made");
    });
  });

  describe("libvirt: wt --image boots the built image", { skip: libvirtSkip() }, () => {
    let id = "";
    const branch = "vm/custom";
    after(() => {
      if (id) spawnSync("virsh", ["-c", "qemu:///system", "destroy", `heyvm-${id}`]);
    });
    const owner = () => JSON.parse(readFileSync(join(t.home, "sandboxes", id, "owner.json"), "utf8")) as { pid: number; machine: { qemuPid: number; domain: string } };

    test("an image without sshd gets one; the sandbox runs the image's tools with /workspace both ways", { timeout: 1_800_000 }, async () => {
      const build = await heyvm(["images", "build", "--backend-type", "libvirt", "--file", join(files, "app.Dockerfile"), "--name", "app"]);
      assert.equal(build.code, 0, build.stderr);
      assert.match(build.stderr, /the image has no SSH server; adding one with its package manager/);
      const image = manifest("libvirt", "app");
      assert.equal(image.details.kernelOrigin, "injected");
      assert.equal(image.details.boot.rootfsFormat, "raw");
      const wt = await heyvm(["wt", branch, "--backend", "libvirt", "--image", "app", "--detach"], { timeoutMs: 600_000 });
      assert.equal(wt.code, 0, wt.stderr);
      id = idOf(wt.stdout);
      const tools = await heyvm(["exec", id, "--", "sh", "-c", "hello; cat /opt/greeting.txt; pwd; cat /proc/cmdline"]);
      assert.equal(tools.code, 0, tools.stderr);
      assert.match(tools.stdout, /^Hello, world!\ngreetings from COPY v2\n\/workspace\n.*init=\/init\.sh/);
      const worktree = join(t.root, "vm-custom");
      await checkWorkspaceBothWays(heyvm, id, worktree);
      const viaSh = await t.run(["sh", id], { input: "hello; cat from-host.txt; exit 3\n", env: { HEYVM_IMAGE_CACHE: TEST_IMAGE_CACHE }, timeoutMs: 120_000 });
      assert.equal(viaSh.code, 3, viaSh.stderr);
      assert.match(viaSh.stdout, /Hello, world!\nhost\n/, "sh runs in /workspace with the image's tools");
      const again = await heyvm(["wt", branch, "--detach"]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(idOf(again.stdout), id, "wt again reuses the running sandbox");
    });

    test("a rebuild of an image in use: allowed; the running VM keeps its overlay on the old base (kept aside, untouched), a new sandbox gets the new image", { timeout: 1_800_000 }, async () => {
      const images = join(t.home, "images", "libvirt");
      const disk = join(t.home, "sandboxes", id, "disk.qcow2");
      const before = manifest("libvirt", "app");
      const oldRootfs = join(images, "app", before.files.rootfs);
      const oldSum = before.checksums.rootfs ?? "";
      assert.equal(readFileSync(`${disk}.base`, "utf8").trim(), oldSum, "the overlay records the base it was made on");
      const backing = JSON.parse(spawnSync("qemu-img", ["info", "-U", "--output=json", disk], { encoding: "utf8" }).stdout) as { "backing-filename": string };
      assert.equal(backing["backing-filename"], oldRootfs, "the sandbox's disk is its own qcow2 overlay over the image's rootfs");
      const { qemuPid } = owner().machine;

      writeFileSync(join(files, "greeting.txt"), "greetings from COPY v3\n");
      const rebuilt = await heyvm(["images", "build", "--backend-type", "libvirt", "--file", join(files, "app.Dockerfile"), "--name", "app"]);
      assert.equal(rebuilt.code, 0, `a rebuild is not refused while a sandbox runs on the image: ${rebuilt.stderr}`);
      const after = manifest("libvirt", "app");
      assert.notEqual(after.checksums.rootfs, oldSum, "a new root filesystem");

      // the old base is renamed aside, not deleted or overwritten: QEMU still has it open
      const retired = readdirSync(images).filter((name) => name.startsWith(".retired-app-"));
      assert.equal(retired.length, 1, `the replaced build is kept aside while its sandbox runs: ${readdirSync(images).join(", ")}`);
      const retiredRootfs = join(images, retired[0] ?? "", before.files.rootfs);
      const open = readdirSync(`/proc/${qemuPid}/fd`).map((fd) => {
        try {
          return readlinkSync(`/proc/${qemuPid}/fd/${fd}`);
        } catch {
          return "";
        }
      });
      assert.ok(open.includes(retiredRootfs), `QEMU reads the old base where it now lies: ${open.filter((path) => path.startsWith(t.home)).join(", ")}`);
      const running = await heyvm(["exec", id, "--", "sh", "-c", "cat /opt/greeting.txt; echo written-after-the-rebuild > /var/tmp/overlay-check; sync; cat /var/tmp/overlay-check"]);
      assert.equal(running.code, 0, running.stderr);
      assert.equal(running.stdout, "greetings from COPY v2\nwritten-after-the-rebuild\n", "the running sandbox keeps its image and its disk takes writes");
      const retiredSum = spawnSync("sha256sum", [retiredRootfs], { encoding: "utf8" }).stdout.split(" ")[0];
      assert.equal(retiredSum, oldSum, "the old base is byte for byte what it was: the sandbox's writes went to its overlay");
      assert.equal(readFileSync(`${disk}.base`, "utf8").trim(), oldSum);
      const listed = JSON.parse((await heyvm(["images", "list", "--json"])).stdout) as Array<{ name: string; backend: string }>;
      assert.equal(listed.filter((row) => row.name === "app" && row.backend === "libvirt").length, 1, "the retired copy is not an image of its own");

      // a new sandbox boots the new build
      const next = await heyvm(["wt", "vm/custom-next", "--backend", "libvirt", "--image", "app", "--detach"], { timeoutMs: 600_000 });
      assert.equal(next.code, 0, next.stderr);
      const nextId = idOf(next.stdout);
      try {
        const fresh = await heyvm(["exec", nextId, "--", "cat", "/opt/greeting.txt"]);
        assert.equal(fresh.stdout, "greetings from COPY v3\n", fresh.stderr);
        assert.equal(readFileSync(join(t.home, "sandboxes", nextId, "disk.qcow2.base"), "utf8").trim(), after.checksums.rootfs);
      } finally {
        const removed = await heyvm(["rm", nextId, "-y"], { timeoutMs: 120_000 });
        assert.equal(removed.code, 0, removed.stderr);
      }
      assert.equal((await heyvm(["exec", id, "--", "cat", "/var/tmp/overlay-check"])).stdout, "written-after-the-rebuild\n", "the first sandbox is still running on its own disk");
    });

    test("kill -9 of the owner leaves no VM behind and wt recovers; a damaged disk is recreated; images rm refuses", { timeout: 900_000 }, async () => {
      const record = owner();
      process.kill(record.pid, "SIGKILL");
      await waitFor(() => !isAlive(record.machine.qemuPid), 60_000, "QEMU to go with its owner");
      const recovered = await heyvm(["wt", branch, "--detach"], { timeoutMs: 600_000 });
      assert.equal(recovered.code, 0, recovered.stderr);
      assert.match(recovered.stderr, /disk\.qcow2 was made from an earlier build of its image; recreating it from the new build/, "the rebuild above: its next start is on the new image");
      assert.equal((await heyvm(["exec", id, "--", "cat", "/opt/greeting.txt"])).stdout, "greetings from COPY v3\n");
      assert.equal((await heyvm(["exec", id, "--", "cat", "from-guest.txt"])).stdout, "guest\n");
      const stop = await heyvm(["stop", id]);
      assert.equal(stop.code, 0, stop.stderr);
      assert.match((await heyvm(["logs", id])).stdout, /HEYVM_POWEROFF/, "the custom image powers off gracefully");
      writeFileSync(join(t.home, "sandboxes", id, "disk.qcow2"), "not a disk\n");
      const again = await heyvm(["wt", branch, "--detach"], { timeoutMs: 600_000 });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /disk\.qcow2 is damaged .*recreating it/);
      assert.equal((await heyvm(["exec", id, "--", "hello"])).stdout, "Hello, world!\n");
      const refused = await heyvm(["images", "rm", "app", "--backend", "libvirt"]);
      assert.equal(refused.code, 4, refused.stderr);
      assert.equal((await heyvm(["stop", id])).code, 0);
    });
  });
});
