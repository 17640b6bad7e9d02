// The disk of a forked libvirt sandbox, copy-on-write: the source's overlay becomes a read-only
// layer (HEYO_HOME/disk-layers/, a hard link to the same file, so nothing is copied) and both the
// source and the fork get a new empty qcow2 overlay on it. A running source takes that point with
// libvirt's external disk-only snapshot (`snapshot-create-as --disk-only --reuse-external`): QEMU
// flushes, then writes to the new overlay, whose header already names the layer; the overlay then
// takes the source's disk name (QEMU keeps its open file). Layers are never written again.
import { copyFileSync, existsSync, linkSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { OperationFailedError } from "../../shared/errors.js";
import { num } from "../../shared/json.js";
import { run } from "../../shared/run.js";
import type { HeyoHome } from "../../state/home.js";
import type { SandboxDir } from "../../state/sandbox-dir.js";
import { DISK_LAYERS_FOLDER, diskLayers } from "../vm-disk.js";
import { grantQemuAccess, grantQemuDiskAccess } from "./access.js";
import { domainName, virsh } from "./virsh.js";
import type { Reporter } from "../types.js";

async function virtualSize(disk: string): Promise<number> {
  const info = await run("qemu-img", ["info", "-U", "--output=json", disk]);
  const size = num(JSON.parse(info.stdout) as Record<string, never>, "virtual-size");
  if (size === undefined) throw new OperationFailedError(`qemu-img info gave no size for ${disk}`);
  return size;
}

/** A new overlay over the layer, without opening the layer (QEMU may hold it). */
async function overlayOn(layer: string, disk: string, size: number): Promise<void> {
  await run("qemu-img", ["create", "-q", "-f", "qcow2", "-u", "-b", layer, "-F", "qcow2", disk, String(size)]);
}

/** Forks the source's disk onto target's; running: the source's VM is running now. */
export async function forkLibvirtDisk(home: HeyoHome, source: SandboxDir, target: SandboxDir, running: boolean, reporter: Reporter): Promise<string> {
  if (!existsSync(source.diskPath)) return "no disk yet: the fork makes its own from the image at its first start";
  const layers = join(home.root, DISK_LAYERS_FOLDER);
  mkdirSync(layers, { recursive: true });
  const layer = join(layers, `${source.id}-${randomBytes(4).toString("hex")}.qcow2`);
  const size = await virtualSize(source.diskPath);
  const next = `${source.diskPath}.next`;
  rmSync(next, { force: true });
  linkSync(source.diskPath, layer);
  try {
    await overlayOn(layer, next, size);
    if (running) {
      await grantQemuAccess([next, layer], reporter);
      await grantQemuDiskAccess(next, layer, await diskLayers(layer, ""));
      const snapshot = await virsh(["snapshot-create-as", domainName(source.id), "--disk-only", "--no-metadata", "--atomic", "--reuse-external", "--diskspec", `vda,snapshot=external,file=${next}`], 120_000);
      if (snapshot.code !== 0) throw new OperationFailedError(`libvirt could not take a disk snapshot of ${source.id}: ${snapshot.stderr.trim().split("\n").pop() ?? ""}`);
    }
    renameSync(next, source.diskPath);
  } catch (error) {
    rmSync(next, { force: true });
    rmSync(layer, { force: true });
    throw error;
  }
  await overlayOn(layer, target.diskPath, size);
  const baseId = `${source.diskPath}.base`;
  if (existsSync(baseId)) copyFileSync(baseId, `${target.diskPath}.base`);
  return `disk: a qcow2 overlay on ${layer}, shared copy-on-write with ${source.id}`;
}
