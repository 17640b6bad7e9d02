// Each VM sandbox boots from its own copy-on-write disk (a qcow2 overlay over the image). A
// damaged overlay (the product guide's "storage device attachment is invalid") is found before
// boot and made again from the image; the worktree lives on the host, so no work is lost.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname } from "node:path";
import { run } from "../shared/run.js";
import type { DiskFormat } from "../images/vm/boot.js";
import type { Reporter } from "./types.js";

/** HEYO_HOME's folder of read-only disk layers that forked sandboxes share (libvirt/disk-fork.ts). */
export const DISK_LAYERS_FOLDER = "disk-layers";

/** The "problem" of a sandbox disk made from an earlier build of its image (not damage). */
export const IMAGE_REBUILT = "rebuilt";

/** What a user is told when a sandbox disk is made again: why, and that /workspace is kept. */
export function diskRecreatedNotice(disk: string, problem: string): string {
  const kept = "files in /workspace are on the host and are kept";
  return problem === IMAGE_REBUILT
    ? `the sandbox disk ${disk} was made from an earlier build of its image; recreating it from the new build (changes made outside /workspace are lost; ${kept})`
    : `the sandbox disk ${disk} is damaged (${problem}); recreating it from the image (${kept})`;
}

type QemuImgInfo = { format?: string; "full-backing-filename"?: string; "backing-filename"?: string; "backing-filename-format"?: string };

/** The layers between a disk and its image (a forked sandbox's), top first; every one must be in the layers folder. */
export async function diskLayers(disk: string, base: string): Promise<string[]> {
  const layers: string[] = [];
  let current = disk;
  for (let depth = 0; depth < 64; depth++) {
    const info = await run("qemu-img", ["info", "--output=json", "-U", current], { allowFailure: true });
    if (info.code !== 0) return layers;
    const backing = (JSON.parse(info.stdout) as QemuImgInfo)["full-backing-filename"];
    if (!backing || backing === base || basename(dirname(backing)) !== DISK_LAYERS_FOLDER) return layers;
    layers.push(backing);
    current = backing;
  }
  return layers;
}

async function overlayProblem(disk: string, base: string, baseFormat: DiskFormat): Promise<string | undefined> {
  const layers = await diskLayers(disk, base);
  const top = layers[layers.length - 1] ?? disk;
  const problem = await backingProblem(top, base, baseFormat);
  if (problem) return problem;
  const check = await run("qemu-img", ["check", "-q", disk], { allowFailure: true });
  if (check.code !== 0) return check.stderr.trim().split("\n").pop() || `qemu-img check exited with ${check.code}`;
  return undefined;
}

/** Whether disk is a qcow2 overlay directly over base. */
async function backingProblem(disk: string, base: string, baseFormat: DiskFormat): Promise<string | undefined> {
  const info = await run("qemu-img", ["info", "--output=json", "-U", disk], { allowFailure: true });
  if (info.code !== 0) return info.stderr.trim().split("\n").pop() ?? "qemu-img cannot read it";
  let parsed: QemuImgInfo;
  try {
    parsed = JSON.parse(info.stdout) as QemuImgInfo;
  } catch {
    return "qemu-img info gave no JSON";
  }
  if (parsed.format !== "qcow2") return `it is ${parsed.format ?? "of unknown format"}, not qcow2`;
  const backing = parsed["full-backing-filename"] ?? parsed["backing-filename"];
  if (backing !== base) return `its backing file is ${backing ?? "missing"}, not ${base}`;
  const backingFormat = parsed["backing-filename-format"];
  if (backingFormat && backingFormat !== baseFormat) return `its backing file is read as ${backingFormat}, not ${baseFormat}`;
  return undefined;
}

/**
 * Makes sure disk is a sound qcow2 overlay over base, recreating it when it is not. baseId (the
 * base's checksum) is remembered beside the disk: an overlay over a rebuilt base is meaningless.
 */
export async function ensureOverlay(disk: string, base: string, baseId: string, reporter: Reporter, baseFormat: DiskFormat = "qcow2"): Promise<void> {
  const idFile = `${disk}.base`;
  if (existsSync(disk)) {
    const recorded = existsSync(idFile) ? readFileSync(idFile, "utf8").trim() : "";
    const problem = recorded !== baseId ? IMAGE_REBUILT : await overlayProblem(disk, base, baseFormat);
    if (!problem) return;
    reporter.info(diskRecreatedNotice(disk, problem));
    rmSync(disk, { force: true });
  }
  await run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", base, "-F", baseFormat, disk]);
  writeFileSync(idFile, `${baseId}\n`);
}
