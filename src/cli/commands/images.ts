// `heyvm images`: list, build and remove local base images.
import { UserError } from "../../shared/errors.js";
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print, printJson, stderrReporter } from "../io.js";
import { age, formatBytes, table } from "../render.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";

const listImagesCommand = defineCommand<FormatFlags>({
  name: "list",
  description: "list local images with backend, size and creation time",
  options: FORMAT_OPTIONS,
  async run({ io, flags }) {
    const { listImageRows } = await import("../../core/images.js");
    const rows = listImageRows(heyoHome());
    if (wantsJson(flags)) return printJson(io, rows);
    if (rows.length === 0) return print(io, "no local images (a VM backend builds its default image on first use)");
    print(io, table(["NAME", "BACKEND", "SIZE", "CREATED", "PATH"], rows.map((r) => [r.valid ? r.name : `${r.name} (no image.json)`, r.backend, formatBytes(r.size_bytes), `${age(r.created_at)} ago`, r.path])));
  },
});

interface BuildFlags {
  backendType: string;
  name: string;
  file?: string;
  sizeMb?: string;
  force?: boolean;
}

const buildImageCommand = defineCommand<BuildFlags>({
  name: "build",
  description: "build a base image: the default VM image from Debian packages, or a custom one from a Dockerfile",
  options: [
    { flags: "--backend-type <backend>", description: "libvirt, apple_virt, firecracker or bubblewrap", default: process.platform === "darwin" ? "apple_virt" : "libvirt" },
    { flags: "--name <name>", description: "image name (then: heyvm wt <branch> --image <name>)", default: "default" },
    { flags: "--file <Dockerfile>", description: "build from this Dockerfile (needs a Docker engine)" },
    { flags: "--size-mb <n>", description: "size of the root filesystem of a Dockerfile-built image" },
    { flags: "--force", description: "build again even if the image exists" },
  ],
  helpAfter:
    "\nThe default image (Debian kernel, busybox initrd, a small Debian userland with git and sshd) is\nbuilt on first use anyway; this builds it ahead of time. Images land in ~/.heyo/images/<backend>/<name>/.",
  async run({ io, flags }) {
    const { parseBackendName } = await import("../../backends/registry.js");
    const { buildImage } = await import("../../core/images.js");
    const sizeMb = flags.sizeMb === undefined ? undefined : Number(flags.sizeMb);
    if (sizeMb !== undefined && (!Number.isInteger(sizeMb) || sizeMb < 64)) throw new UserError(`--size-mb takes a whole number of at least 64, not "${flags.sizeMb}"`);
    const dir = await buildImage(heyoHome(), { backend: parseBackendName(flags.backendType), name: flags.name, dockerfile: flags.file, sizeMb, force: flags.force ?? false }, stderrReporter(io));
    print(io, dir);
  },
});

const removeImageCommand = defineCommand<{ backendType?: string }>({
  name: "rm",
  description: "remove a local image that no sandbox uses",
  arguments: [{ name: "<name>", description: "image name" }],
  options: [{ flags: "--backend-type <backend>", description: "which backend's image, when several have this name" }],
  async run({ io, args: [name], flags }) {
    const { removeImage } = await import("../../core/images.js");
    const removed = removeImage(heyoHome(), String(name), flags.backendType?.replace(/-/g, "_"));
    print(io, `removed image ${removed.backend}/${removed.name}`);
  },
});

export const imagesCommand = defineCommand({
  name: "images",
  description: "manage local base images (~/.heyo/images/<backend>/<name>)",
  subcommands: [listImagesCommand, buildImageCommand, removeImageCommand],
});
