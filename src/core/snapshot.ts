// `heyvm snapshot <id> --name N`: a VM sandbox's disk as a reusable local image, which
// `images list` shows and `wt --image N` / `create --image N` start from. A running sandbox is
// stopped for it (its disk is then a consistent file system) and started again unless asked not to.
import { join } from "node:path";
import { usableBackend } from "../backends/registry.js";
import type { Reporter } from "../backends/types.js";
import { DEFAULT_IMAGE } from "../images/store.js";
import { UserError } from "../shared/errors.js";
import type { HeyoHome } from "../state/home.js";
import { sandboxStatus } from "../state/status.js";
import { resolveSandbox } from "./catalog.js";
import { ensureOwner } from "./owner-start.js";
import { stopEntry } from "./stop.js";

export interface SnapshotRequest {
  query: string;
  name: string;
  /** Leave a sandbox that was running stopped afterwards. */
  noRestart: boolean;
}

/** What `heyvm snapshot` reports (snake_case). */
export interface SnapshotResult {
  name: string;
  backend: string;
  path: string;
  size_bytes: number;
  sandbox_id: string;
  base_image: string;
  /** The sandbox's status afterwards. */
  sandbox_status: "running" | "stopped";
}

/** The sandbox's own disk file, by backend. */
async function diskOf(backend: string, root: string, diskPath: string): Promise<string> {
  if (backend === "libvirt") return diskPath;
  const { FIRECRACKER_FILES } = await import("../backends/firecracker/backend.js");
  return join(root, FIRECRACKER_FILES.rootfs);
}

export async function snapshotSandbox(home: HeyoHome, request: SnapshotRequest, reporter: Reporter): Promise<SnapshotResult> {
  const entry = resolveSandbox(home, request.query);
  const { backend, id } = entry.spec;
  if (backend !== "libvirt" && backend !== "firecracker") {
    throw new UserError(`a ${backend} sandbox has no disk of its own to snapshot (its system is the host's or a read-only image; only its home is its own)`, {
      hint: "snapshot a libvirt or firecracker sandbox; for bubblewrap, build an image from a Dockerfile (heyvm images build --file)",
    });
  }
  const { checkImageName, imageFromDisk } = await import("../images/snapshot.js");
  checkImageName(request.name);
  const wasRunning = (await sandboxStatus(entry.dir)).status !== "stopped";
  if (wasRunning) {
    reporter.progress(`stopping ${id} for a consistent disk`);
    await stopEntry(home, entry);
  }
  const image = entry.spec.image ?? DEFAULT_IMAGE;
  try {
    reporter.progress(`writing image ${request.name} from ${id}'s disk`);
    const made = await imageFromDisk(home, { backend, image, disk: await diskOf(backend, entry.dir.root, entry.dir.diskPath), sandboxId: id }, request.name);
    return { name: made.name, backend, path: made.dir, size_bytes: made.sizeBytes, sandbox_id: id, base_image: image, sandbox_status: wasRunning && !request.noRestart ? "running" : "stopped" };
  } finally {
    if (wasRunning && !request.noRestart) await ensureOwner(home, entry, await usableBackend(backend), "detached", reporter);
  }
}
