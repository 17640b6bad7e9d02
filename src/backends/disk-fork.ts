// What `heyvm fork` does to a sandbox's disk, by backend: the fork's home (every backend keeps
// the user's home folder or image in the sandbox's folder) and, for VM backends, its root disk,
// copy-on-write wherever the backend's format allows (libvirt: qcow2 layers; bubblewrap and
// firecracker: reflink where the file system clones, else a sparse copy of the used blocks).
import { join } from "node:path";
import { ConflictError } from "../shared/errors.js";
import type { BackendName } from "../shared/backend-name.js";
import type { HeyoHome } from "../state/home.js";
import type { SandboxDir } from "../state/sandbox-dir.js";
import type { Reporter } from "./types.js";

/** Refuses, before anything is made, a fork this backend cannot take in the source's state. */
export function checkForkable(backend: BackendName, running: boolean, id: string): void {
  if (backend === "firecracker" && running) {
    throw new ConflictError(`sandbox ${id} runs on firecracker, whose raw disk heyvm cannot take a consistent copy of while it runs`, `stop it first (heyvm stop ${id}), then fork it`);
  }
  if (backend === "apple_virt") throw new ConflictError("the apple_virt backend cannot fork sandboxes yet", "use libvirt, firecracker or bubblewrap");
}

/** Copies (copy-on-write where it can) the source's home and disk into target's folder; returns what was shared, line by line. */
export async function forkSandboxDisks(home: HeyoHome, backend: BackendName, source: SandboxDir, target: SandboxDir, running: boolean, reporter: Reporter): Promise<string[]> {
  const { forkHome } = await import("./bubblewrap/home-fork.js");
  const notes = [await forkHome(source, target)];
  if (backend === "libvirt") {
    const { forkLibvirtDisk } = await import("./libvirt/disk-fork.js");
    notes.push(await forkLibvirtDisk(home, source, target, running, reporter));
  } else if (backend === "firecracker") {
    const [{ forkRootfs }, { FIRECRACKER_FILES }] = await Promise.all([import("./firecracker/disk.js"), import("./firecracker/backend.js")]);
    notes.push(await forkRootfs(join(source.root, FIRECRACKER_FILES.rootfs), join(target.root, FIRECRACKER_FILES.rootfs)));
  }
  return notes;
}
