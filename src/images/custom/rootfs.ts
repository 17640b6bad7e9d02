// From an engine image to a root filesystem on the host, without loop mounts: the image's
// layers mounted in place where heyvm can (layers.ts), else `docker export` streamed into tar (a
// root folder); then `mke2fs -t ext4 -d` (an ext4 file). Without root the ownership in the
// archive cannot be applied to the folder, so tar and mke2fs then run under fakeroot, which
// keeps the owners in a state file from one to the other.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, realpathSync, rmSync, statSync } from "node:fs";
import { join, sep } from "node:path";
import { OperationFailedError, UnavailableError, UserError, errorMessage } from "../../shared/errors.js";
import { findSystemExecutable, run } from "../../shared/run.js";
import { createContainer, removeContainer } from "./docker.js";
import { layerFolders, mountLayers, type GraphDriver } from "./layers.js";

const MiB = 1024 * 1024;

/** How a command is run over a root folder: directly as root, else under fakeroot. */
export class RootRunner {
  /** Whether the state file exists yet (the first command under fakeroot writes it). */
  private started = false;

  constructor(private readonly fakerootState: string) {}

  static needsFakeroot(): boolean {
    return process.getuid?.() !== 0;
  }

  /** Fails early, saying what to install, when a build without root has no fakeroot. */
  static check(): void {
    if (RootRunner.needsFakeroot() && !findSystemExecutable("fakeroot")) {
      throw new UnavailableError("building a VM image without root needs fakeroot (to keep the files' owners in the ext4 filesystem)", "install it with `apt-get install fakeroot`, or build as root");
    }
  }

  command(file: string, args: string[]): { file: string; args: string[] } {
    if (!RootRunner.needsFakeroot()) return { file, args };
    return { file: "fakeroot", args: ["-s", this.fakerootState, ...(this.started ? ["-i", this.fakerootState] : []), "--", file, ...args] };
  }

  /** Marks the state file as written (the first command under fakeroot creates it). */
  markStarted(): void {
    this.started = true;
  }
}

export interface ExportedTree {
  /** Settles once the export's container is removed (which overlaps the next steps). */
  containerRemoved: Promise<void>;
}

/**
 * Exports an engine image (a container is created, never started, and removed) into tree:
 * `docker export` writes straight into tar's stdin (nothing of the stream passes through heyvm).
 * keepOwners: apply the archive's owners (as root or under fakeroot); a bubblewrap root read by
 * the user needs no such thing. /dev's nodes and /.dockerenv stay out: the guest makes its own.
 */
export async function exportImageTo(image: string, tree: string, runner: RootRunner, keepOwners: boolean, label: string): Promise<ExportedTree> {
  mkdirSync(tree, { recursive: true });
  chmodSync(tree, 0o755);
  const container = await createContainer(image, label);
  try {
    const tarArgs = ["-x", "-f", "-", "-C", tree, "--numeric-owner", "--anchored", "--exclude=dev/?*", "--exclude=.dockerenv"];
    if (keepOwners) tarArgs.push("-p", "--same-owner");
    else tarArgs.push("--no-same-owner", "--no-same-permissions");
    if (keepOwners && !RootRunner.needsFakeroot()) tarArgs.push("--xattrs", "--xattrs-include=*");
    const command = keepOwners ? runner.command("tar", tarArgs) : { file: "tar", args: tarArgs };
    const tar = spawn(command.file, command.args, { stdio: ["pipe", "ignore", "pipe"] });
    if (keepOwners) runner.markStarted();
    const exporter = spawn("docker", ["export", container], { stdio: ["ignore", tar.stdin, "pipe"] });
    tar.stdin.destroy(); // the exporter holds the pipe now; tar sees its end when the exporter exits
    let tarErr = "";
    let exportErr = "";
    tar.stderr.setEncoding("utf8").on("data", (chunk: string) => (tarErr += chunk));
    exporter.stderr?.setEncoding("utf8").on("data", (chunk: string) => (exportErr += chunk));
    const exited = (child: ReturnType<typeof spawn>) => new Promise<number>((resolve) => {
      child.on("error", () => resolve(127));
      child.on("close", (code) => resolve(code ?? 1));
    });
    const [exportCode, tarCode] = await Promise.all([exited(exporter), exited(tar)]);
    if (exportCode !== 0) throw new OperationFailedError(`docker export failed: ${exportErr.trim().split("\n").slice(-3).join(" ")}`);
    if (tarCode !== 0) throw new OperationFailedError(`unpacking the exported image failed: ${tarErr.trim().split("\n").slice(-3).join(" ")}`);
    return { containerRemoved: removeContainer(container) };
  } catch (error) {
    await removeContainer(container);
    throw error;
  }
}

/** An image's filesystem as a folder that commands run over: its layers mounted, or exported. */
export interface ImageTree {
  /** The folder, as commands wrapped by `command` see it. */
  root: string;
  /** The folder as heyvm itself reads it (a link in it that is absolute leads to the host's root). */
  readable: string;
  /** How the filesystem got there: "layers" (read in place) or "export". */
  method: "layers" | "export";
  command(file: string, args: string[]): { file: string; args: string[] };
  /** A host path through which heyvm can read a file of the tree; refused if it leads outside. */
  fileInTree(pathInImage: string): Promise<string>;
  /** Unmounts the layers and removes the engine's container; the folder is the caller's to delete. */
  close(): Promise<void>;
}

/** A file inside an unpacked image, refused if it (or a folder on the way) leads outside the image. */
function fileInFolder(tree: string, pathInImage: string): string {
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

/**
 * The image's filesystem under work (owners kept) with stage(dir) having put heyvm's files into
 * it: its layers mounted in place where that works here, else exported. label goes on the
 * engine container it makes; say hears what is done (and why an export was needed where
 * mounting the layers failed).
 */
export async function openImageTree(image: string, driver: GraphDriver, work: string, runner: RootRunner, label: string, stage: (dir: string) => void, say: { progress(text: string): void; info(text: string): void }): Promise<ImageTree> {
  const folders = layerFolders(driver);
  if ("layers" in folders) {
    say.progress(`reading the image's ${folders.layers.length} layer${folders.layers.length === 1 ? "" : "s"} in place (mounted read-only in heyvm's own mount namespace; the image is never run)`);
    const pin = await createContainer(image, label); // the image's layers cannot be removed while it exists
    try {
      const view = await mountLayers(folders.layers, work, stage);
      return { ...view, method: "layers", close: async () => { await view.close(); await removeContainer(pin); } };
    } catch (error) {
      await removeContainer(pin);
      say.info(`the image's layers could not be read in place (${errorMessage(error)}); exporting them instead`);
    }
  }
  say.progress("exporting the image's filesystem (docker create + export; it is never run)");
  const root = join(work, "tree");
  rmSync(root, { recursive: true, force: true });
  const exported = await exportImageTo(image, root, runner, true, label);
  stage(root);
  return { root, readable: root, method: "export", command: (file, args) => ({ file, args }), fileInTree: async (path) => fileInFolder(root, path), close: () => exported.containerRemoved };
}

export interface SizeChoice {
  sizeMiB: number;
  /** How it was chosen, in words (printed, and kept in image.json). */
  rule: string;
}

/** The product's automatic size: content × 1.2 + 64 MiB, at least 128 MiB; or the --size-mb asked for. */
export function chooseSize(contentBytes: number, askedMiB: number | undefined): SizeChoice {
  const contentMiB = Math.ceil(contentBytes / MiB);
  const automatic = Math.max(128, Math.ceil((contentBytes * 1.2) / MiB) + 64);
  if (askedMiB !== undefined) {
    if (askedMiB < contentMiB + 16) {
      throw new UserError(`--size-mb ${askedMiB} is too small for the image's ${contentMiB} MiB of content`, { hint: `give at least ${contentMiB + 16}, or leave --size-mb out for the automatic ${automatic} MiB` });
    }
    return { sizeMiB: askedMiB, rule: `--size-mb ${askedMiB} (content ${contentMiB} MiB)` };
  }
  return { sizeMiB: automatic, rule: `automatic: content ${contentMiB} MiB × 1.2 + 64 MiB (at least 128 MiB) = ${automatic} MiB, about ${automatic - contentMiB} MiB free for work; --size-mb sets another size` };
}

/** How many files and folders a tree holds (for the ext4 inode count). */
async function countEntries(tree: ImageTree): Promise<number> {
  const command = tree.command("find", [tree.root, "-xdev", "-printf", "."]);
  const result = await run(command.file, command.args, { timeout: 600_000 });
  return result.stdout.length;
}

/** Packs tree into a sparse ext4 file of sizeMiB, owners as recorded (root, or fakeroot's state). */
export async function makeExt4(tree: ImageTree, file: string, size: SizeChoice, label: string, runner: RootRunner): Promise<void> {
  const entries = await countEntries(tree);
  const inodes = Math.max(Math.ceil(entries * 1.3) + 2048, Math.ceil((size.sizeMiB * MiB) / 16384));
  rmSync(file, { force: true });
  const args = ["-q", "-F", "-t", "ext4", "-L", label, "-d", tree.root, "-m", "0", "-N", String(inodes), "-E", "lazy_itable_init=1,lazy_journal_init=1,root_owner=0:0", file, `${size.sizeMiB}M`];
  const asRoot = runner.command("mke2fs", args);
  const command = tree.command(asRoot.file, asRoot.args);
  const result = await run(command.file, command.args, { allowFailure: true, timeout: 1_800_000 });
  if (result.code !== 0) {
    const detail = (result.stderr || result.stdout).trim().split("\n").slice(-3).join(" ");
    if (/space|allocate|too small|Could not allocate/i.test(detail)) {
      throw new UserError(`the root filesystem of ${size.sizeMiB} MiB is too small for the image (${detail})`, { hint: "give a larger --size-mb, or leave it out for the automatic size" });
    }
    throw new OperationFailedError(`mke2fs failed: ${detail}`);
  }
}

/** Removes a tree, also where an image left folders without write permission (a build without root). */
export function removeTree(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch {
    spawnSync("chmod", ["-R", "u+rwX", path], { stdio: "ignore" });
    rmSync(path, { recursive: true, force: true });
  }
}
