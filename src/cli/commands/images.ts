// `heyvm images`: list, remove (and, for VM backends, build) local images.
import { rmSync } from "node:fs";
import type { Command } from "commander";
import { ConflictError, NotFoundError, UserError } from "../../shared/errors.js";
import { heyoHome } from "../../state/home.js";
import { print, printJson, stderrReporter, type CliIO } from "../io.js";
import { age, formatBytes, table } from "../render.js";

export function registerImageCommands(program: Command, io: CliIO): void {
  const images = program.command("images").description("manage local base images (~/.heyo/images/<backend>/<name>)");
  images
    .command("list")
    .description("list local images with backend, size and creation time")
    .option("--json", "print JSON")
    .action(async (flags: { json?: boolean }) => {
      const { listImages } = await import("../../images/store.js");
      const rows = listImages(heyoHome()).map((image) => ({
        name: image.name,
        backend: image.backend,
        sizeBytes: image.sizeBytes,
        createdAt: image.createdAt,
        path: image.dir,
        valid: image.manifest !== undefined,
      }));
      if (flags.json) return printJson(io, rows);
      if (rows.length === 0) return print(io, "no local images (a VM backend builds its default image on first use)");
      print(io, table(["NAME", "BACKEND", "SIZE", "CREATED", "PATH"], rows.map((r) => [r.valid ? r.name : `${r.name} (no image.json)`, r.backend, formatBytes(r.sizeBytes), `${age(r.createdAt)} ago`, r.path])));
    });
  images
    .command("build")
    .description("build a base image: the default VM image from Debian packages, or a custom one from a Dockerfile")
    .option("--backend-type <backend>", "libvirt, apple_virt, firecracker or bubblewrap", process.platform === "darwin" ? "apple_virt" : "libvirt")
    .option("--name <name>", "image name (then: heyvm wt <branch> --image <name>)", "default")
    .option("--file <Dockerfile>", "build from this Dockerfile (needs a Docker engine)")
    .option("--size-mb <n>", "size of the root filesystem of a Dockerfile-built image")
    .option("--force", "build again even if the image exists")
    .addHelpText("after", "\nThe default image (Debian kernel, busybox initrd, a small Debian userland with git and sshd) is\nbuilt on first use anyway; this builds it ahead of time. Images land in ~/.heyo/images/<backend>/<name>/.")
    .action(async (flags: { backendType: string; name: string; file?: string; sizeMb?: string; force?: boolean }) => {
      const { parseBackendName } = await import("../../backends/registry.js");
      const { buildImage } = await import("../../core/images.js");
      const sizeMb = flags.sizeMb === undefined ? undefined : Number(flags.sizeMb);
      if (sizeMb !== undefined && (!Number.isInteger(sizeMb) || sizeMb < 64)) throw new UserError(`--size-mb takes a whole number of at least 64, not "${flags.sizeMb}"`);
      const dir = await buildImage(heyoHome(), { backend: parseBackendName(flags.backendType), name: flags.name, dockerfile: flags.file, sizeMb, force: flags.force ?? false }, stderrReporter(io));
      print(io, dir);
    });
  images
    .command("rm")
    .description("remove a local image that no sandbox uses")
    .argument("<name>", "image name")
    .option("--backend-type <backend>", "which backend's image, when several have this name")
    .action(async (name: string, flags: { backendType?: string }) => {
      const { listImages } = await import("../../images/store.js");
      const { allSandboxes } = await import("../../core/catalog.js");
      const home = heyoHome();
      const matches = listImages(home).filter((image) => image.name === name && (!flags.backendType || image.backend === flags.backendType.replace(/-/g, "_")));
      if (matches.length === 0) throw new NotFoundError(`no local image named "${name}"`, "see `heyvm images list`");
      if (matches.length > 1) throw new ConflictError(`"${name}" exists for several backends (${matches.map((m) => m.backend).join(", ")})`, "pick one with --backend-type");
      const [image] = matches;
      if (!image) return;
      const users = allSandboxes(home).filter((s) => s.spec.backend === image.backend && (s.spec.image ?? "default") === image.name);
      if (users.length > 0) {
        throw new ConflictError(`image ${name} is used by ${users.map((u) => u.spec.id).join(", ")}`, "remove those sandboxes first (rm -rf ~/.heyo/sandboxes/<id> once stopped)");
      }
      rmSync(image.dir, { recursive: true, force: true });
      print(io, `removed image ${image.backend}/${name}`);
    });
}
