// `heyvm images build --file <Dockerfile>`: the Dockerfile built by the engine (its output
// streamed as progress) and its filesystem taken without ever being run: its layers read in place
// where heyvm can (layers.ts), else exported (rootfs.ts). For VM formats heyvm's guest contract
// (and heyvm's default kernel when the image has none) is then added by one script: over that
// tree in a bubblewrap sandbox where heyvm runs as root, or as a final engine build step (whose
// image is read the same way) where it does not, or where the image needs packages from its
// package manager. The tree is packed as the backend's format (formats.ts). Everything happens in
// a build folder beside the target (build-folder.ts) whose result is renamed into place at the
// end, so a failed or interrupted build leaves the previous image of that name as it was; the
// engine's containers and the final step's image are removed whatever happens.
import { createHash } from "node:crypto";
import { spawn } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { BackendName } from "../../shared/backend-name.js";
import { OperationFailedError, UnavailableError, UserError } from "../../shared/errors.js";
import { writeJsonFile } from "../../shared/json.js";
import type { Reporter } from "../../shared/reporter.js";
import { findSystemExecutable, run } from "../../shared/run.js";
import type { HeyoHome } from "../../state/home.js";
import { withLock } from "../../state/lock.js";
import { IMAGE_MANIFEST, imageDir, replaceImageDir, type ImageManifest } from "../store.js";
import { extractVmlinux, sha256File } from "../vm/build.js";
import { ensureKernelKit, type KernelKit } from "../vm/kernel-kit.js";
import { markVerified } from "../vm/verify.js";
import { FINAL_IID, containerLabel, discardInBackground, makeBuildFolder, sweepAbandonedBuilds } from "./build-folder.js";
import { dockerBuild, hostPlatform, imageFacts, removeImages, requireEngine } from "./docker.js";
import { IMAGE_FORMATS, type ImageFormat } from "./formats.js";
import { CUSTOM_INIT, HEYVM_GUEST_DIR, NEEDS_PACKAGES, STAGING_DIR, contractDockerfile, describeNeeds, dockerfileAdvice, parseKernelReport, parseMissing, parseSetupFailure, stagedFiles, type KernelReport } from "./guest-contract.js";
import { missingGuestModules } from "./kernel-modules.js";
import { GUEST_VSOCK_PORTS, VSOCK_GUEST_MODULES } from "../firecracker/vsock-guest.js";
import { RootRunner, chooseSize, exportImageTo, makeExt4, openImageTree, removeTree, type ImageTree, type SizeChoice } from "./rootfs.js";
import type { GraphDriver } from "./layers.js";

export interface CustomImageRequest {
  backend: BackendName;
  name: string;
  dockerfile: string;
  /** The build context; the Dockerfile's folder when not given. */
  context?: string;
  /** linux/amd64, linux/arm64…; the host's when not given. */
  platform?: string;
  sizeMb?: number;
  /** Build without the engine's layer cache. */
  noCache?: boolean;
}

export interface CustomImageResult {
  dir: string;
  manifest: ImageManifest;
  /** The root filesystem's size and how it was chosen (VM formats). */
  size: SizeChoice | null;
}

/** Image names: they become folder names and part of an engine tag, so lowercase and plain. */
const IMAGE_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

export function checkImageName(name: string): void {
  if (!IMAGE_NAME.test(name) || name === "default") {
    throw new UserError(`"${name}" is not a usable image name${name === "default" ? " (heyvm's own image is called that)" : ""}`, { hint: "use lowercase letters, digits, '.', '_' and '-' (at most 63), e.g. --name my-base" });
  }
}

/** The engine tag the Dockerfile's own image is kept under: a rebuild reuses its layers. */
export function engineTag(backend: BackendName, name: string): string {
  return `localhost/heyvm/${name}:${backend.replace(/_/g, "-")}`;
}

function checkTools(format: ImageFormat): void {
  const needed = format.vm ? ["tar", "mke2fs", "find"] : ["tar"];
  const missing = needed.filter((tool) => !findSystemExecutable(tool));
  if (missing.length > 0) throw new UnavailableError(`building an image needs ${missing.join(", ")}`, "install them with `apt-get install tar e2fsprogs findutils`");
  if (format.vm) RootRunner.check();
  if (format.vm && !findSystemExecutable("busybox")) throw new UnavailableError("VM images get heyvm's guest tools from a static busybox, and busybox is not installed", "install it with `apt-get install busybox-static`");
}

async function sha256Text(text: string | Buffer): Promise<string> {
  return createHash("sha256").update(text).digest("hex");
}

/** heyvm's staged files for the format, busybox and (when there is one) the kernel kit, into dir. */
function stageFiles(dir: string, kit: KernelKit | null, format: ImageFormat): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(stagedFiles(format.workspace !== undefined))) writeFileSync(join(dir, name), content, { mode: 0o755 });
  copyFileSync(findSystemExecutable("busybox") ?? "/bin/busybox", join(dir, "busybox"));
  if (kit) {
    mkdirSync(join(dir, "kernel"));
    copyFileSync(kit.vmlinuz, join(dir, "kernel", "vmlinuz"));
    copyFileSync(kit.initrd, join(dir, "kernel", "initrd"));
    cpSync(kit.modulesRoot, join(dir, "kernel", "modules"), { recursive: true });
  }
}

async function treeBytes(dir: string): Promise<number> {
  const result = await run("du", ["-sb", dir], { allowFailure: true });
  return Number(result.stdout.split(/\s/)[0]) || 0;
}

/** heyvm's kernel kit (made once, then cached) if this host can make it; else why not, for later. */
async function kernelKitIfPossible(home: HeyoHome, reporter: Reporter): Promise<{ kit: KernelKit | null; problem?: unknown }> {
  try {
    return { kit: await ensureKernelKit(home, reporter) };
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    return { kit: null, problem: error }; // an image with a kernel of its own does not need it
  }
}

/**
 * The guest contract can be added over the unpacked image itself (no second engine step and
 * export) where heyvm runs as root, in a bubblewrap sandbox whose root is that tree: owners come
 * out right and nothing the image holds (absolute links…) can reach the host.
 */
function canSetUpInTree(): boolean {
  return !RootRunner.needsFakeroot() && findSystemExecutable("bwrap") !== undefined;
}

/** Runs the setup script over tree; its kernel report, or what the image lacks when packages must be installed first. */
async function setUpInTree(tree: ImageTree, format: ImageFormat, onLine: (line: string) => void): Promise<KernelReport | { missing: string[] }> {
  let report: KernelReport | undefined;
  let failure: string | undefined;
  let missing: string[] = [];
  let needsPackages = false;
  const last: string[] = [];
  const bwrap = tree.command("bwrap", [
    "--bind", tree.root, "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/run",
    "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent", "--clearenv", "--setenv", "PATH", "/usr/sbin:/usr/bin:/sbin:/bin", "--setenv", "HEYVM_IN_TREE", "1", "--chdir", "/",
    `${STAGING_DIR}/busybox`, "sh", `${STAGING_DIR}/setup.sh`,
  ]);
  const child = spawn(bwrap.file, bwrap.args, { stdio: ["ignore", "pipe", "pipe"] });
  const lines = (stream: NodeJS.ReadableStream | null) => {
    let rest = "";
    stream?.setEncoding("utf8");
    stream?.on("data", (chunk: string) => {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      for (const line of parts) {
        report = parseKernelReport(line) ?? report;
        failure = parseSetupFailure(line) ?? failure;
        missing = parseMissing(line) ?? missing;
        needsPackages ||= line.trim() === NEEDS_PACKAGES;
        last.push(line);
        if (last.length > 15) last.shift();
        if (!needsPackages && !parseMissing(line)) onLine(line);
      }
    });
  };
  lines(child.stdout);
  lines(child.stderr);
  const code = await new Promise<number>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (exit) => resolve(exit ?? 1));
  });
  if (needsPackages) return { missing };
  if (failure) throw contractRefused(failure, format, missing);
  if (code !== 0) throw new OperationFailedError(`adding heyvm's guest contract failed (exit code ${code}):\n${last.map((l) => `  ${l}`).join("\n")}`);
  if (!report) throw new OperationFailedError("the guest contract step did not say which kernel the image has");
  return report;
}

/** The build error when the image cannot get what the contract runs: what to add to the Dockerfile. */
function contractRefused(reason: string, format: ImageFormat, missing: readonly string[]): UserError {
  return new UserError(`the image cannot get heyvm's guest contract: ${reason}`, { hint: dockerfileAdvice(format.workspace !== undefined, missing), exitCode: 6 });
}

/** sha256 of the format's kernel and initrd (known already for heyvm's own kernel). */
async function hashFiles(out: string, format: ImageFormat, kit: KernelKit | null): Promise<Partial<Record<"kernel" | "initrd", string>>> {
  const sums: Partial<Record<"kernel" | "initrd", string>> = {};
  const { kernel, initrd } = format.files;
  if (kernel) sums.kernel = kit ? (kernel === "vmlinux" || format.kernel !== "as-shipped" ? kit.checksums.vmlinux : kit.checksums.vmlinuz) : await sha256File(join(out, kernel));
  if (initrd) sums.initrd = kit ? kit.checksums.initrd : await sha256File(join(out, initrd));
  return sums;
}

interface KernelFiles {
  origin: "image" | "injected";
  /** Where the kernel was found in the image (or put there). */
  pathInImage: string;
  kernelFacts: Record<string, string>;
}

/** Copies the kernel and initrd the format wants into out, by the kernel rule's outcome. */
async function placeKernel(format: ImageFormat, report: KernelReport, tree: ImageTree, kit: KernelKit | null, out: string): Promise<KernelFiles> {
  const files = format.files;
  if (!files.kernel) throw new OperationFailedError("the format has no kernel file");
  if (report.origin === "injected") {
    if (!kit) throw new OperationFailedError("the build injected a kernel heyvm did not stage");
    const uncompressed = format.kernel === "uncompressed" || format.kernel === "uncompressed-if-injected";
    copyFileSync(uncompressed ? kit.vmlinux : kit.vmlinuz, join(out, files.kernel));
    if (files.initrd) copyFileSync(kit.initrd, join(out, files.initrd));
    return { origin: "injected", pathInImage: "/boot/vmlinuz-lts", kernelFacts: { kernelPackage: kit.kernelPackage, kernelVersion: kit.kernelVersion } };
  }
  if (report.origin !== "image" || !report.kernel) throw new OperationFailedError("the image has no kernel and heyvm's default kernel was not injected");
  const kernel = await tree.fileInTree(report.kernel);
  if (format.kernel === "uncompressed") {
    if (!(await extractVmlinux(kernel, join(out, files.kernel)))) {
      throw new UserError(`the image's kernel ${report.kernel} could not be uncompressed for ${format.name} (heyvm reads xz-compressed kernels)`, { hint: "remove the kernel from the image to get heyvm's default kernel, or install an xz-compressed one" });
    }
  } else {
    if (format.kernel === "uncompressed-if-injected") files.kernel = "vmlinuz"; // the image's kernel, as shipped
    copyFileSync(kernel, join(out, files.kernel));
  }
  if (files.initrd) {
    if (report.initrd) copyFileSync(await tree.fileInTree(report.initrd), join(out, files.initrd));
    else delete (files as { initrd?: string }).initrd;
  }
  return { origin: "image", pathInImage: report.kernel, kernelFacts: { kernelVersion: report.kernel.replace(/^\/boot\/vmlinuz-/, "") } };
}

/** What image.json says the guest contract does (details.boot.guestContract). */
function guestContractSummary(format: ImageFormat): string {
  const workspace = format.workspace
    ? `/workspace (and the git folder) mounted with sshfs from an SFTP session the host opens on vsock port ${GUEST_VSOCK_PORTS.workspace}; SSH on vsock port ${GUEST_VSOCK_PORTS.ssh}`
    : "/workspace over virtiofs/9p (tag workspace) or a drive labelled heyvm-workspace";
  return `${CUSTOM_INIT} (PID 1, then busybox init); heyvm's tools in ${HEYVM_GUEST_DIR}; settings from fw_cfg opt/heyvm/{env,authorized_keys,ssh_host_ed25519_key,gitconfig} or a tar of those files on /dev/vdb; ${workspace}; prints HEYVM_READY on the console`;
}

/** Says in the build output when the image's own kernel may lack what the vsock channels need (heyvm's injected kernel has it). */
function noteGuestModules(tree: ImageTree, kernelInImage: string, reporter: Reporter): void {
  const check = missingGuestModules(tree.readable, kernelInImage, VSOCK_GUEST_MODULES);
  const needs = `SSH and /workspace over vsock need the ${VSOCK_GUEST_MODULES.join(" and ")} modules`;
  const remedy = "built into the kernel or loaded by its initrd; else remove the kernel from the image to get heyvm's default one, which has them";
  if (!check.modulesDir) reporter.info(`note: the image's kernel ${kernelInImage} has no modules folder heyvm can match in /lib/modules; ${needs}, which must then be ${remedy}`);
  else if (check.missing.length > 0) reporter.info(`note: the modules of the image's kernel (${check.modulesDir}) lack ${check.missing.join(" and ")}; ${needs}, which must then be ${remedy}`);
}

/** Builds a custom image into images/<backend>/<name>/ (see the file comment). */
export async function buildCustomImage(home: HeyoHome, request: CustomImageRequest, reporter: Reporter): Promise<CustomImageResult> {
  checkImageName(request.name);
  await requireEngine(`building an image from ${request.dockerfile}`);
  const format: ImageFormat = { ...IMAGE_FORMATS[request.backend], files: { ...IMAGE_FORMATS[request.backend].files } };
  if (!existsSync(request.dockerfile) || !statSync(request.dockerfile).isFile()) throw new UserError(`there is no Dockerfile at ${request.dockerfile}`, { hint: "give --file the path of a Dockerfile", exitCode: 3 });
  const context = request.context ?? dirname(request.dockerfile);
  if (!existsSync(context) || !statSync(context).isDirectory()) throw new UserError(`the build context ${context} is not a folder`, { hint: "give --context a folder (the Dockerfile's folder by default)", exitCode: 3 });
  checkTools(format);
  const platform = request.platform ?? hostPlatform();
  if (format.vm && platform !== hostPlatform()) {
    throw new UserError(`a ${request.backend} image for ${platform} cannot be built on this ${hostPlatform()} host (heyvm's guest tools and default kernel are this host's)`, { hint: `leave out --platform, or build on a ${platform} host` });
  }
  const target = imageDir(home, request.backend, request.name);
  const parent = dirname(target);
  mkdirSync(parent, { recursive: true });
  await sweepAbandonedBuilds(home, parent);
  const work = makeBuildFolder(parent, request.name);
  const buildLabel = containerLabel(work);
  const out = join(work, "image");
  mkdirSync(out);
  const started = Date.now();
  const phases: Record<string, number> = {};
  let phaseStart = performance.now();
  /** Records how long the step that just ended took (kept in image.json as buildPhasesMs). */
  const phase = (name: string) => {
    phases[name] = Math.round(performance.now() - phaseStart);
    phaseStart = performance.now();
  };
  /** Work that overlaps later steps (removing the export's container, the final step's image). */
  const cleanups: Array<Promise<unknown>> = [];
  /** Trees still open (a mount, an engine container): each is closed once not needed, whatever happens. */
  const openTrees: Array<{ tree: ImageTree; afterClose?: () => Promise<unknown> }> = [];
  const closeTrees = () => {
    for (const { tree, afterClose } of openTrees.splice(0)) cleanups.push(tree.close().then(afterClose, afterClose));
  };
  let succeeded = false;
  const docker = (line: string) => reporter.info(`  │ ${line}`);
  try {
    reporter.progress(`docker build ${request.dockerfile} (context ${context}, ${platform})`);
    const tag = engineTag(request.backend, request.name);
    const userImage = await dockerBuild({ dockerfile: request.dockerfile, context, platform, tag, noCache: request.noCache, onLine: docker }, join(work, "user.iid"));
    phase("dockerBuild");
    const facts = await imageFacts(userImage);
    if (facts.platform !== platform) throw new UserError(`the Dockerfile built a ${facts.platform} image, not ${platform}`, { hint: "its base image has no variant for that platform here; pick another base image or --platform" });
    const dockerfileSha256 = await sha256Text(readFileSync(request.dockerfile));
    const runner = new RootRunner(join(work, "fakeroot.state"));
    const open = async (image: string, driver: GraphDriver, where: string, stage: (dir: string) => void, afterClose?: () => Promise<unknown>): Promise<ImageTree> => {
      const tree = await openImageTree(image, driver, join(work, where), runner, buildLabel, stage, reporter);
      openTrees.push({ tree, afterClose });
      return tree;
    };
    let size: SizeChoice | null = null;
    let kernel: KernelFiles | null = null;
    const files: Record<string, string> = {};
    const checksums: Record<string, string> = {};
    if (!format.vm) {
      reporter.progress("exporting the image's filesystem (docker create + export; it is never run)");
      const folder = await exportImageTo(userImage, join(out, format.files.rootfs), runner, !RootRunner.needsFakeroot(), buildLabel);
      cleanups.push(folder.containerRemoved);
      if (!existsSync(join(out, format.files.rootfs, "bin", "sh")) && !existsSync(join(out, format.files.rootfs, "usr", "bin", "sh"))) {
        throw new UserError("the image has no /bin/sh, which a bubblewrap sandbox runs", { hint: "build FROM a base image with a shell (Debian, Alpine…)" });
      }
      files.rootfs = format.files.rootfs;
      checksums.rootfs = userImage.replace(/^sha256:/, ""); // a folder: the engine's own digest of its content
      phase("export");
    } else {
      const { kit, problem: kitProblem } = await kernelKitIfPossible(home, reporter);
      phase("kernelKit");
      let report: KernelReport | undefined;
      let contentBytes = facts.sizeBytes;
      let tree: ImageTree | undefined;
      if (canSetUpInTree()) {
        let stagedBytes = Promise.resolve(0);
        tree = await open(userImage, facts.graphDriver, "user", (dir) => {
          const staging = join(dir, STAGING_DIR.slice(1));
          stageFiles(staging, kit, format);
          stagedBytes = treeBytes(staging);
        });
        contentBytes += await stagedBytes;
        phase(tree.method === "layers" ? "layers" : "export");
        reporter.progress(`adding heyvm's guest contract over the image's filesystem (${CUSTOM_INIT}, ${HEYVM_GUEST_DIR}, user heyo${kit ? ", heyvm's default kernel if it has none" : ""})`);
        const outcome = await setUpInTree(tree, format, docker);
        if ("missing" in outcome) {
          reporter.info(`the image lacks ${describeNeeds(format.workspace !== undefined, outcome.missing)}: adding ${outcome.missing.length > 1 ? "them" : "it"} with its package manager in an engine build step`);
          tree = undefined;
          closeTrees();
        } else {
          report = outcome;
        }
        phase("guestContract");
      }
      if (!report) {
        reporter.progress(`adding heyvm's guest contract in a final build step (${CUSTOM_INIT}, ${HEYVM_GUEST_DIR}, user heyo, sshd${kit ? ", heyvm's default kernel if it has none" : ""})`);
        const contractContext = join(work, "contract");
        mkdirSync(contractContext);
        stageFiles(join(contractContext, "heyvm"), kit, format);
        writeFileSync(join(contractContext, "Dockerfile"), contractDockerfile(userImage));
        let setupFailure: string | undefined;
        let missing: string[] = [];
        let finalImage: string;
        try {
          finalImage = await dockerBuild({
            dockerfile: join(contractContext, "Dockerfile"),
            context: contractContext,
            platform,
            onLine: (line) => {
              report = parseKernelReport(line) ?? report;
              setupFailure = parseSetupFailure(line) ?? setupFailure;
              missing = parseMissing(line) ?? missing;
              if (!parseMissing(line)) docker(line);
            },
          }, join(work, FINAL_IID));
        } catch (error) {
          if (setupFailure) throw contractRefused(setupFailure, format, missing);
          throw error;
        }
        phase("guestContract");
        const finalFacts = await imageFacts(finalImage);
        contentBytes = finalFacts.sizeBytes;
        // the step's image goes once the tree is closed (the engine refuses to remove an image a container uses)
        tree = await open(finalImage, finalFacts.graphDriver, "final", () => undefined, () => removeImages([finalImage]));
        phase(tree.method === "layers" ? "layers" : "export");
      }
      if (!report || !tree) throw new OperationFailedError("the guest contract step did not say which kernel the image has");
      if (report.origin === "none") throw kitProblem ?? new OperationFailedError("the image has no kernel and heyvm's default kernel was not injected");
      kernel = await placeKernel(format, report, tree, kit, out);
      if (format.workspace && kernel.origin === "image") noteGuestModules(tree, kernel.pathInImage, reporter);
      const early = hashFiles(out, format, kernel.origin === "injected" ? kit : null);
      size = chooseSize(contentBytes, request.sizeMb);
      reporter.progress(`packing the root filesystem: ext4, ${size.rule}`);
      await makeExt4(tree, join(out, format.files.rootfs), size, "heyvm-root", runner);
      closeTrees(); // closing overlaps the checksums
      phase("mke2fs");
      const [rootfsSum, sums] = await Promise.all([sha256File(join(out, format.files.rootfs)), early]);
      for (const role of ["kernel", "initrd", "rootfs"] as const) {
        const file = format.files[role];
        if (!file) continue;
        files[role] = file;
        checksums[role] = role === "rootfs" ? rootfsSum : (sums[role] ?? "");
      }
      phase("checksums");
    }
    let sizeBytes = 0;
    for (const file of Object.values(files)) sizeBytes += format.vm ? statSync(join(out, file)).blocks * 512 : facts.sizeBytes;
    const manifest: ImageManifest = {
      name: request.name,
      backend: request.backend,
      createdAt: new Date().toISOString(),
      files,
      checksums,
      sizeBytes,
      details: {
        source: "dockerfile",
        format: format.name,
        dockerfile: request.dockerfile,
        dockerfileSha256,
        context,
        platform,
        engineImageId: userImage,
        engineTag: tag,
        contentBytes: facts.sizeBytes,
        ...(kernel ? { kernelOrigin: kernel.origin, kernelInImage: kernel.pathInImage, ...kernel.kernelFacts } : { kernelOrigin: "host" }),
        ...(size ? { rootfsSizeMiB: size.sizeMiB, rootfsSizeRule: size.rule } : {}),
        ...(format.vm
          ? { boot: { cmdline: format.cmdline ?? "", init: CUSTOM_INIT, rootfsFormat: "raw", filesystem: "ext4", bootedBy: format.bootedBy, guestContract: guestContractSummary(format), ...(format.workspace ? { workspace: format.workspace } : {}) } }
          : { boot: { rootfsFormat: "dir", bootedBy: format.bootedBy } }),
        buildSeconds: Math.round((Date.now() - started) / 1000),
        buildPhasesMs: phases,
      },
    };
    writeJsonFile(join(out, IMAGE_MANIFEST), manifest);
    if (format.vm) markVerified(out, manifest);
    await withLock(home, `image:${request.backend}:${request.name}`, 30 * 60_000, async () => replaceImageDir(target, out));
    reporter.info(`image ${request.backend}/${request.name} ready in ${((Date.now() - started) / 1000).toFixed(1)} s${kernel ? ` (kernel: ${kernel.origin === "image" ? `the image's own ${kernel.pathInImage}` : "heyvm's default, injected at /boot/vmlinuz-lts"})` : ""}`);
    succeeded = true;
    return { dir: target, manifest, size };
  } finally {
    closeTrees();
    await Promise.allSettled(cleanups);
    // the unpacked tree is not needed any more: after a success it goes in the background
    if (succeeded) discardInBackground(home, work);
    else removeTree(work);
  }
}
