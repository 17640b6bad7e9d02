// `heyvm images`: list, build and remove local base images.
import { UserError } from "../../shared/errors.js";
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print, printJson, stderrReporter } from "../io.js";
import { age, formatBytes, table } from "../render.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";

const BACKEND_CHOICES = "libvirt, firecracker, apple_virt or bubblewrap";

const listImagesCommand = defineCommand<FormatFlags>({
  name: "list",
  description: "list local images with backend, size, kernel origin and age",
  options: FORMAT_OPTIONS,
  async run({ io, flags }) {
    const { listImageRows } = await import("../../core/images.js");
    const rows = listImageRows(heyoHome());
    if (wantsJson(flags)) return printJson(io, rows);
    if (rows.length === 0) return print(io, "no local images (a VM backend builds its default image on first use; `heyvm images build --file <Dockerfile> --name <name>` builds your own)");
    print(io, table(["NAME", "BACKEND", "SIZE", "KERNEL", "AGE", "PATH"], rows.map((r) => [r.valid ? r.name : `${r.name} (no image.json)`, r.backend, formatBytes(r.size_bytes), r.kernel_origin, age(r.created_at), r.path])));
  },
});

interface BuildFlags extends FormatFlags {
  backendType?: string;
  backend?: string;
  name: string;
  file?: string;
  context?: string;
  platform?: string;
  sizeMb?: string;
  cache: boolean;
  force?: boolean;
  quiet?: boolean;
}

const buildImageCommand = defineCommand<BuildFlags>({
  name: "build",
  description: "build a base image: the default VM image from Debian packages, or your own from a Dockerfile",
  options: [
    { flags: "--backend-type <backend>", description: `${BACKEND_CHOICES} (default: ${process.platform === "darwin" ? "apple_virt" : "libvirt"})` },
    { flags: "--backend <backend>", description: "the same as --backend-type" },
    { flags: "--name <name>", description: "image name (then: heyvm wt <branch> --image <name>)", default: "default" },
    { flags: "--file <Dockerfile>", description: "build from this Dockerfile (needs a Docker engine)" },
    { flags: "--context <dir>", description: "the build context (default: the Dockerfile's folder)" },
    { flags: "--platform <platform>", description: "the engine platform to build for (default: this host's, e.g. linux/amd64)" },
    { flags: "--size-mb <n>", description: "size of the root filesystem (default: content × 1.2 + 64 MiB, at least 128 MiB)" },
    { flags: "--no-cache", description: "build without the engine's layer cache" },
    { flags: "--force", description: "build the default image again even if it exists" },
    { flags: "-q, --quiet", description: "no progress, only the result" },
    ...FORMAT_OPTIONS,
  ],
  helpAfter: `
From a Dockerfile: the engine builds it (RUN steps use the host's network), the result is exported
without ever being run and turned into the backend's format in ~/.heyo/images/<backend>/<name>/,
with an image.json (checksums, the Dockerfile's digest, the engine image id, kernel origin, size).
VM formats get heyvm's guest contract (/init.sh: /workspace, network, SSH keys for heyo, sshd,
HEYVM_READY), an SSH server from the image's own package manager if it has none, and a kernel: the
image's own (/boot/vmlinuz-lts [+ initramfs-lts], or Debian's vmlinuz-* + initrd.img-*), else
heyvm's default one injected at /boot/vmlinuz-lts and /boot/initramfs-lts. A failed build leaves an
earlier image of the same name as it was.

Examples:
  heyvm images build --backend-type libvirt --file ./Dockerfile --name my-base
  heyvm wt feature/x --image my-base
  heyvm images build --backend bubblewrap --file ./Dockerfile --name tools
  heyvm wt feature/x --backend bubblewrap --image tools`,
  async run({ io, flags }) {
    const { parseBackendName } = await import("../../backends/registry.js");
    const { buildImage } = await import("../../core/images.js");
    if (flags.backendType && flags.backend && flags.backendType !== flags.backend) throw new UserError("--backend-type and --backend name different backends", { hint: "give one of them" });
    const backend = parseBackendName(flags.backendType ?? flags.backend ?? (process.platform === "darwin" ? "apple_virt" : "libvirt"));
    const sizeMb = flags.sizeMb === undefined ? undefined : Number(flags.sizeMb);
    if (sizeMb !== undefined && (!/^\d+$/.test(flags.sizeMb ?? "") || sizeMb < 64)) throw new UserError(`--size-mb takes a whole number of at least 64, not "${flags.sizeMb}"`);
    if (flags.platform !== undefined && !/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/.test(flags.platform)) throw new UserError(`--platform takes an engine platform such as linux/amd64, not "${flags.platform}"`);
    const json = wantsJson(flags);
    const built = await buildImage(
      heyoHome(),
      { backend, name: flags.name, dockerfile: flags.file, context: flags.context, platform: flags.platform, sizeMb, noCache: !flags.cache, force: flags.force ?? false },
      stderrReporter(io, flags.quiet === true),
    );
    if (json) return printJson(io, built);
    if (built.size_rule && !flags.quiet) io.stderr.write(`root filesystem: ${built.size_rule}\n`);
    print(io, built.path);
  },
});

const removeImageCommand = defineCommand<{ backendType?: string; backend?: string }>({
  name: "rm",
  description: "remove a local image that no sandbox uses",
  arguments: [{ name: "<name>", description: "image name" }],
  options: [
    { flags: "--backend-type <backend>", description: "which backend's image, when several have this name" },
    { flags: "--backend <backend>", description: "the same as --backend-type" },
  ],
  async run({ io, args: [name], flags }) {
    const { removeImage } = await import("../../core/images.js");
    const which = flags.backendType ?? flags.backend;
    let backend: string | undefined;
    if (which) backend = (await import("../../backends/registry.js")).parseBackendName(which);
    const removed = await removeImage(heyoHome(), String(name), backend);
    print(io, `removed image ${removed.backend}/${removed.name}`);
  },
});

export const imagesCommand = defineCommand({
  name: "images",
  description: "manage local base images (~/.heyo/images/<backend>/<name>)",
  subcommands: [listImagesCommand, buildImageCommand, removeImageCommand],
});
