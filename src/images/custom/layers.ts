// An engine image's filesystem read where the engine keeps it, instead of exported and unpacked:
// where the engine stores its layers as overlay folders on this host (overlay2, the default of
// Docker and Podman on Linux) and heyvm is root, they are mounted as one overlay — the image's
// layers read-only, below an empty upper layer of heyvm's — in a mount namespace of heyvm's own.
// A holder process keeps that namespace and dies with heyvm (pdeathsig), so no mount is ever
// left on the host, and commands that read or change the tree run in it through nsenter.
// overlayfs writes only to the upper layer: the engine's layers are never changed. This skips
// the export's copy of every file (docker export → tar → disk); the engine's container pins the
// image meanwhile so that its layers cannot be removed under the build.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { OperationFailedError } from "../../shared/errors.js";
import { findSystemExecutable, run } from "../../shared/run.js";

/** The engine's own description of where an image's layers are (`docker image inspect` .GraphDriver). */
export interface GraphDriver {
  Name?: unknown;
  Data?: { UpperDir?: unknown; LowerDir?: unknown } | null;
}

/** A mounted view of an image's layers (see the file comment). */
export interface LayerView {
  /** The merged tree, as commands wrapped by `command` see it. */
  root: string;
  command(file: string, args: string[]): { file: string; args: string[] };
  /** The tree as heyvm itself reads it: through the holder's root (/proc/<pid>/root). */
  readable: string;
  /** A host path through which heyvm itself can read a file of the tree that resolves inside it. */
  fileInTree(pathInImage: string): Promise<string>;
  /** Ends the namespace (which unmounts the overlay). */
  close(): Promise<void>;
}

/** Set to 1, builds export the image even where its layers could be read in place (a way around an unusual engine). */
export const EXPORT_ALWAYS = "HEYVM_IMAGE_EXPORT";

/** Mounting and hiding /dev take well under a second; a holder silent for this long is given up on. */
const MOUNT_TIMEOUT_MS = 60_000;

/** The longest mount option string the kernel takes is a page; a margin for the other options. */
const MAX_LOWERDIR_CHARS = 3600;

/**
 * The image's layer folders, topmost first, if heyvm can mount them here; else why not (the
 * caller exports instead and may say so). Nothing is mounted yet.
 */
export function layerFolders(driver: GraphDriver, env: NodeJS.ProcessEnv = process.env): { layers: string[] } | { unavailable: string } {
  if (env[EXPORT_ALWAYS] === "1") return { unavailable: `${EXPORT_ALWAYS}=1` };
  if (process.getuid?.() !== 0) return { unavailable: "heyvm is not root" };
  if (driver.Name !== "overlay2" && driver.Name !== "overlay") return { unavailable: `the engine stores images with ${typeof driver.Name === "string" ? `the ${driver.Name}` : "an unknown"} driver` };
  const upper = driver.Data?.UpperDir;
  const lower = driver.Data?.LowerDir ?? "";
  if (typeof upper !== "string" || !upper || typeof lower !== "string") return { unavailable: "the engine does not say where the image's layers are" };
  const layers = [upper, ...(lower ? lower.split(":") : [])];
  if (!layers.every((dir) => dir.startsWith("/") && existsSync(dir))) return { unavailable: "the engine's layer folders are not on this host" };
  // a remapped engine (userns-remap, rootless) stores owners shifted: only an export shows them right
  if (statSync(layers[layers.length - 1] ?? upper).uid !== 0) return { unavailable: "the engine stores the image's owners shifted (user namespace remapping)" };
  if (layers.join(":").length > MAX_LOWERDIR_CHARS) return { unavailable: `the image has too many layers (${layers.length}) for one overlay mount` };
  for (const tool of ["setpriv", "unshare", "nsenter", "realpath"]) {
    if (!findSystemExecutable(tool)) return { unavailable: `${tool} is not installed` };
  }
  return { layers };
}

/**
 * The holder: mounts the overlay ($1 its options, $2 the tree), then makes the tree what the
 * engine's export would be. The export carries the engine's init layer (empty /etc/hosts,
 * /etc/hostname and /etc/resolv.conf in place of the image's, /etc/mtab → /proc/mounts, /proc
 * and /sys) and heyvm leaves out /dev's nodes; so here. Paths are checked not to be links, as
 * this runs with the host's root as /. Then it holds the namespace until it is killed.
 */
const HOLDER_SCRIPT = `set -e
m=$2
mount -t overlay heyvm-image -o "$1" "$m"
if [ -d "$m/dev" ] && [ ! -L "$m/dev" ]; then find "$m/dev" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +; fi
for d in proc sys etc; do [ -e "$m/$d" ] || [ -L "$m/$d" ] || mkdir -m 755 "$m/$d"; done
if [ -d "$m/etc" ] && [ ! -L "$m/etc" ]; then
  for f in hosts hostname resolv.conf mtab; do rm -rf -- "$m/etc/$f"; done
  for f in hosts hostname resolv.conf; do : > "$m/etc/$f"; chmod 755 "$m/etc/$f"; done
  ln -s /proc/mounts "$m/etc/mtab"
fi
echo mounted
exec sleep infinity`;

/**
 * Mounts layers (topmost first) below work/upper at work/tree, after stage(upper) has put
 * heyvm's files in the upper layer (files must be there before the mount). The image's /dev
 * nodes are hidden, as an export leaves them out: the guest makes its own.
 */
export async function mountLayers(layers: string[], work: string, stage: (upper: string) => void): Promise<LayerView> {
  const upper = join(work, "upper");
  const scratch = join(work, "overlay-work");
  const root = join(work, "tree");
  for (const dir of [upper, scratch, root]) mkdirSync(dir, { recursive: true, mode: 0o755 });
  stage(upper);
  const options = `lowerdir=${layers.join(":")},upperdir=${upper},workdir=${scratch},index=off`;
  const holder = spawn("setpriv", ["--pdeathsig", "KILL", "--", "unshare", "--mount", "--propagation", "private", "--", "sh", "-c", HOLDER_SCRIPT, "sh", options, root], { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<void>((resolve) => holder.on("close", () => resolve()));
  let stderr = "";
  holder.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const mounted = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      stderr ||= `no answer in ${MOUNT_TIMEOUT_MS / 1000} s`;
      resolve(false);
    }, MOUNT_TIMEOUT_MS);
    holder.on("close", () => clearTimeout(timer));
    let out = "";
    holder.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      if (out.includes("mounted\n")) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    holder.on("error", () => resolve(false));
    holder.on("close", () => resolve(false));
  });
  const pid = holder.pid;
  if (!mounted || pid === undefined) {
    holder.kill("SIGKILL");
    await exited;
    throw new OperationFailedError(`mounting the image's layers failed: ${stderr.trim().split("\n").slice(-2).join(" ") || "the namespace holder exited"}`);
  }
  const command = (file: string, args: string[]) => ({ file: "nsenter", args: [`--target=${pid}`, "--mount", "--", file, ...args] });
  return {
    root,
    readable: `/proc/${pid}/root${root}`,
    command,
    async fileInTree(pathInImage: string): Promise<string> {
      const realpath = command("realpath", ["-e", "--", join(root, pathInImage)]);
      const resolved = await run(realpath.file, realpath.args, { allowFailure: true });
      const path = resolved.stdout.trim();
      if (resolved.code !== 0) throw new OperationFailedError(`the image has no ${pathInImage}`);
      const hostPath = `/proc/${pid}/root${path}`;
      if (!path.startsWith(`${root}/`) || !statSync(hostPath).isFile()) throw new OperationFailedError(`${pathInImage} in the image is not a plain file inside the image`);
      return hostPath;
    },
    async close(): Promise<void> {
      holder.kill("SIGKILL");
      await exited;
    },
  };
}
