// `heyvm images build --file <Dockerfile>`: the Dockerfile built by the engine (its output
// streamed as progress), then for VM formats a final step that adds heyvm's guest contract (and
// an SSH server, and heyvm's default kernel when the image has none), the result exported
// without ever being run, unpacked and packed as the backend's format (formats.ts). Everything
// happens in a temporary folder beside the target that is renamed into place at the end, so a
// failed or interrupted build leaves the previous image of that name as it was; the export's
// container and the final step's image are removed whatever happens.
import { createHash } from "node:crypto";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, sep } from "node:path";
import type { BackendName } from "../../shared/backend-name.js";
import { OperationFailedError, UnavailableError, UserError } from "../../shared/errors.js";
import { writeJsonFile } from "../../shared/json.js";
import type { Reporter } from "../../shared/reporter.js";
import { findSystemExecutable } from "../../shared/run.js";
import type { HeyoHome } from "../../state/home.js";
import { withLock } from "../../state/lock.js";
import { IMAGE_MANIFEST, imageDir, replaceImageDir, type ImageManifest } from "../store.js";
import { extractVmlinux, sha256File } from "../vm/build.js";
import { ensureKernelKit, type KernelKit } from "../vm/kernel-kit.js";
import { markVerified } from "../vm/verify.js";
import { bootEntries, dockerBuild, hostPlatform, imagePlatform, removeImages, requireEngine } from "./docker.js";
import { IMAGE_FORMATS, type ImageFormat } from "./formats.js";
import { CUSTOM_INIT, HEYVM_GUEST_DIR, STAGED_FILES, contractDockerfile, parseKernelReport, parseSetupFailure, type KernelReport } from "./guest-contract.js";
import { RootRunner, chooseSize, exportImageTo, makeExt4, removeTree, type SizeChoice } from "./rootfs.js";

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

/** A file inside an unpacked image, refused if it (or a folder on the way) leads outside the image. */
function fileInTree(tree: string, pathInImage: string): string {
  const root = realpathSync(tree);
  let resolved: string;
  try {
    resolved = realpathSync(join(tree, pathInImage));
  } catch {
    throw new OperationFailedError(`the image has no ${pathInImage}`);
  }
  if (!resolved.startsWith(root + sep) || !statSync(resolved).isFile()) throw new OperationFailedError(`${pathInImage} in the image is not a plain file inside the image`);
  return resolved;
}

async function sha256Text(text: string | Buffer): Promise<string> {
  return createHash("sha256").update(text).digest("hex");
}

/** Whether the image's /boot (names as listed by bootEntries) has a kernel by the kernel rule. */
export function hasKernelByRule(names: readonly string[]): boolean {
  const boot = new Set(names.map((name) => name.replace(/^\.?\/?boot\//, "").replace(/\/$/, "")));
  if (boot.has("vmlinuz-lts")) return true;
  return [...boot].some((name) => name.startsWith("vmlinuz-") && boot.has(`initrd.img-${name.slice("vmlinuz-".length)}`));
}

/** The final step's build context: heyvm's staged files, busybox and (when needed) the kernel kit. */
function stageContract(context: string, baseImage: string, kit: KernelKit | null): void {
  const staging = join(context, "heyvm");
  mkdirSync(staging, { recursive: true });
  for (const [name, content] of Object.entries(STAGED_FILES)) writeFileSync(join(staging, name), content, { mode: 0o755 });
  copyFileSync(findSystemExecutable("busybox") ?? "/bin/busybox", join(staging, "busybox"));
  if (kit) {
    mkdirSync(join(staging, "kernel"));
    copyFileSync(kit.vmlinuz, join(staging, "kernel", "vmlinuz"));
    copyFileSync(kit.initrd, join(staging, "kernel", "initrd"));
    cpSync(kit.modulesRoot, join(staging, "kernel", "modules"), { recursive: true });
  }
  writeFileSync(join(context, "Dockerfile"), contractDockerfile(baseImage));
}

interface KernelFiles {
  origin: "image" | "injected";
  /** Where the kernel was found in the image (or put there). */
  pathInImage: string;
  kernelFacts: Record<string, string>;
}

/** Copies the kernel and initrd the format wants into out, by the kernel rule's outcome. */
async function placeKernel(format: ImageFormat, report: KernelReport, tree: string, kit: KernelKit | null, out: string): Promise<KernelFiles> {
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
  const kernel = fileInTree(tree, report.kernel);
  if (format.kernel === "uncompressed") {
    if (!(await extractVmlinux(kernel, join(out, files.kernel)))) {
      throw new UserError(`the image's kernel ${report.kernel} could not be uncompressed for ${format.name} (heyvm reads xz-compressed kernels)`, { hint: "remove the kernel from the image to get heyvm's default kernel, or install an xz-compressed one" });
    }
  } else {
    copyFileSync(kernel, join(out, files.kernel));
  }
  if (files.initrd) {
    if (report.initrd) copyFileSync(fileInTree(tree, report.initrd), join(out, files.initrd));
    else delete (files as { initrd?: string }).initrd;
  }
  return { origin: "image", pathInImage: report.kernel, kernelFacts: { kernelVersion: report.kernel.replace(/^\/boot\/vmlinuz-/, "") } };
}

/** Builds a custom image into images/<backend>/<name>/ (see the file comment). */
export async function buildCustomImage(home: HeyoHome, request: CustomImageRequest, reporter: Reporter): Promise<CustomImageResult> {
  checkImageName(request.name);
  const format: ImageFormat = { ...IMAGE_FORMATS[request.backend], files: { ...IMAGE_FORMATS[request.backend].files } };
  if (!existsSync(request.dockerfile) || !statSync(request.dockerfile).isFile()) throw new UserError(`there is no Dockerfile at ${request.dockerfile}`, { hint: "give --file the path of a Dockerfile", exitCode: 3 });
  const context = request.context ?? dirname(request.dockerfile);
  if (!existsSync(context) || !statSync(context).isDirectory()) throw new UserError(`the build context ${context} is not a folder`, { hint: "give --context a folder (the Dockerfile's folder by default)", exitCode: 3 });
  await requireEngine(`building an image from ${request.dockerfile}`);
  checkTools(format);
  const platform = request.platform ?? hostPlatform();
  if (format.vm && platform !== hostPlatform()) {
    throw new UserError(`a ${request.backend} image for ${platform} cannot be built on this ${hostPlatform()} host (heyvm's guest tools and default kernel are this host's)`, { hint: `leave out --platform, or build on a ${platform} host` });
  }
  const target = imageDir(home, request.backend, request.name);
  const parent = dirname(target);
  mkdirSync(parent, { recursive: true });
  const work = mkdtempSync(join(parent, `.build-${request.name}-`));
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
  const finalImages: string[] = [];
  const docker = (line: string) => reporter.info(`  │ ${line}`);
  try {
    reporter.progress(`docker build ${request.dockerfile} (context ${context}, ${platform})`);
    const tag = engineTag(request.backend, request.name);
    const userImage = await dockerBuild({ dockerfile: request.dockerfile, context, platform, tag, noCache: request.noCache, onLine: docker }, join(work, "user.iid"));
    phase("dockerBuild");
    const built = await imagePlatform(userImage);
    if (built !== platform) throw new UserError(`the Dockerfile built a ${built} image, not ${platform}`, { hint: "its base image has no variant for that platform here; pick another base image or --platform" });
    const dockerfileSha256 = await sha256Text(readFileSync(request.dockerfile));
    const runner = new RootRunner(join(work, "fakeroot.state"));
    const tree = join(work, "tree");
    let exported;
    let size: SizeChoice | null = null;
    let kernel: KernelFiles | null = null;
    const files: Record<string, string> = {};
    const checksums: Record<string, string> = {};
    if (!format.vm) {
      reporter.progress("exporting the image's filesystem (docker create + export; it is never run)");
      exported = await exportImageTo(userImage, join(out, format.files.rootfs), runner, !RootRunner.needsFakeroot());
      if (!existsSync(join(out, format.files.rootfs, "bin", "sh")) && !existsSync(join(out, format.files.rootfs, "usr", "bin", "sh"))) {
        throw new UserError("the image has no /bin/sh, which a bubblewrap sandbox runs", { hint: "build FROM a base image with a shell (Debian, Alpine…)" });
      }
      files.rootfs = format.files.rootfs;
      checksums.rootfs = exported.contentSha256;
      phase("export");
    } else {
      // the kernel rule needs to know whether to stage heyvm's kernel: look at /boot first
      reporter.progress("looking for a kernel in the image (/boot)");
      const kit = hasKernelByRule(await bootEntries(userImage)) ? null : await ensureKernelKit(home, reporter);
      phase("kernelProbe");
      reporter.progress(`adding heyvm's guest contract (${CUSTOM_INIT}, ${HEYVM_GUEST_DIR}, user heyo, sshd${kit ? ", heyvm's default kernel" : ""})`);
      const contractContext = join(work, "contract");
      mkdirSync(contractContext);
      stageContract(contractContext, userImage, kit);
      let report: KernelReport | undefined;
      let setupFailure: string | undefined;
      let finalImage: string;
      try {
        finalImage = await dockerBuild({
          dockerfile: join(contractContext, "Dockerfile"),
          context: contractContext,
          platform,
          onLine: (line) => {
            report = parseKernelReport(line) ?? report;
            setupFailure = parseSetupFailure(line) ?? setupFailure;
            docker(line);
          },
        }, join(work, "final.iid"));
      } catch (error) {
        if (setupFailure) {
          throw new UserError(`the image cannot get heyvm's guest contract: ${setupFailure}`, { hint: "add an SSH server to the Dockerfile (Debian/Ubuntu: RUN apt-get install -y openssh-server; Alpine: RUN apk add openssh-server; Fedora: RUN dnf install -y openssh-server)", exitCode: 6 });
        }
        throw error;
      }
      finalImages.push(finalImage);
      phase("guestContract");
      if (!report) throw new OperationFailedError("the guest contract step did not say which kernel the image has");
      reporter.progress("exporting the image's filesystem (docker create + export; it is never run)");
      exported = await exportImageTo(finalImage, tree, runner, true);
      phase("export");
      kernel = await placeKernel(format, report, tree, kit, out);
      size = chooseSize(exported.contentBytes, request.sizeMb);
      reporter.progress(`packing the root filesystem: ext4, ${size.rule}`);
      await makeExt4(tree, join(out, format.files.rootfs), size, "heyvm-root", runner);
      phase("mke2fs");
      for (const role of ["kernel", "initrd", "rootfs"] as const) {
        const file = format.files[role];
        if (!file) continue;
        files[role] = file;
        checksums[role] = await sha256File(join(out, file));
      }
      phase("checksums");
    }
    let sizeBytes = 0;
    for (const file of Object.values(files)) sizeBytes += format.vm ? statSync(join(out, file)).blocks * 512 : exported.contentBytes;
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
        contentBytes: exported.contentBytes,
        contentSha256: exported.contentSha256,
        ...(kernel ? { kernelOrigin: kernel.origin, kernelInImage: kernel.pathInImage, ...kernel.kernelFacts } : { kernelOrigin: "host" }),
        ...(size ? { rootfsSizeMiB: size.sizeMiB, rootfsSizeRule: size.rule } : {}),
        ...(format.vm
          ? { boot: { cmdline: format.cmdline ?? "", init: CUSTOM_INIT, rootfsFormat: "raw", filesystem: "ext4", bootedBy: format.bootedBy, guestContract: `${CUSTOM_INIT} (PID 1, then busybox init); heyvm's tools in ${HEYVM_GUEST_DIR}; settings from fw_cfg opt/heyvm/{env,authorized_keys,ssh_host_ed25519_key,gitconfig} or a tar of those files on /dev/vdb; /workspace over virtiofs/9p (tag workspace) or a drive labelled heyvm-workspace; prints HEYVM_READY on the console` } }
          : { boot: { rootfsFormat: "dir", bootedBy: format.bootedBy } }),
        buildSeconds: Math.round((Date.now() - started) / 1000),
        buildPhasesMs: phases,
      },
    };
    writeJsonFile(join(out, IMAGE_MANIFEST), manifest);
    if (format.vm) markVerified(out, manifest);
    removeTree(tree);
    await withLock(home, `image:${request.backend}:${request.name}`, 30 * 60_000, async () => replaceImageDir(target, out));
    reporter.info(`image ${request.backend}/${request.name} ready in ${((Date.now() - started) / 1000).toFixed(1)} s${kernel ? ` (kernel: ${kernel.origin === "image" ? `the image's own ${kernel.pathInImage}` : "heyvm's default, injected at /boot/vmlinuz-lts"})` : ""}`);
    return { dir: target, manifest, size };
  } finally {
    await removeImages(finalImages);
    removeTree(work);
  }
}
