// A build's scratch folder beside its image, and what a killed build leaves. Each build records
// who runs it (pid, start time, boot) in its folder and labels the engine containers it makes
// with the folder's name, so the next build can tell an abandoned folder (its builder is gone)
// from one in use and remove it with its containers: a build killed with -9 leaves neither an
// unpacked image of hundreds of MB nor an engine container behind beyond the next build.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { run } from "../../shared/run.js";
import { isImageId } from "./docker.js";
import type { HeyoHome } from "../../state/home.js";
import { currentBootId, isSameProcess, processStartTime } from "../../state/liveness.js";
import { removeTree } from "./rootfs.js";

const PREFIX = ".build-";
const BUILDER = "builder.json";
/** The label on every engine container a build makes: the build folder's name. */
const BUILD_LABEL = "heyvm.build";

/** The `key=value` label for the engine containers of the build in folder work. */
export function containerLabel(work: string): string {
  return `${BUILD_LABEL}=${basename(work)}`;
}

/** Makes the scratch folder of a build of name under parent, recording this process as its builder. */
export function makeBuildFolder(parent: string, name: string): string {
  const work = mkdtempSync(join(parent, `${PREFIX}${name}-`));
  writeFileSync(join(work, BUILDER), JSON.stringify({ pid: process.pid, startTime: processStartTime(process.pid), bootId: currentBootId() }));
  return work;
}

/** Where a build folder keeps the id of its final build step's image. */
export const FINAL_IID = "final.iid";

function readIid(path: string): string | null {
  try {
    const id = readFileSync(path, "utf8").trim();
    return isImageId(id) ? id : null;
  } catch {
    return null;
  }
}

function abandoned(folder: string): boolean {
  try {
    const record = JSON.parse(readFileSync(join(folder, BUILDER), "utf8")) as { pid?: unknown; startTime?: unknown; bootId?: unknown };
    if (typeof record.pid !== "number") return true;
    return !isSameProcess(record.pid, typeof record.startTime === "string" ? record.startTime : null, typeof record.bootId === "string" ? record.bootId : null);
  } catch {
    return false; // no record: a build between mkdtemp and its first write, or another kind of build
  }
}

/**
 * Moves a finished or abandoned build folder (an unpacked image: thousands of files) to
 * images/.trash and deletes it there in a detached process, so that nobody waits for it; what an
 * interrupted deletion leaves is deleted with the next one.
 */
export function discardInBackground(home: HeyoHome, work: string): void {
  const trash = join(home.images, ".trash");
  try {
    mkdirSync(trash, { recursive: true });
    renameSync(work, join(trash, basename(work)));
    spawn("rm", ["-rf", "--", ...readdirSync(trash).map((name) => join(trash, name))], { detached: true, stdio: "ignore" }).unref();
  } catch {
    removeTree(work);
  }
}

/** Removes the build folders under parent whose builder is gone, and the engine containers they made. */
export async function sweepAbandonedBuilds(home: HeyoHome, parent: string): Promise<void> {
  let names: string[];
  try {
    names = readdirSync(parent).filter((name) => name.startsWith(PREFIX));
  } catch {
    return;
  }
  const gone = names.filter((name) => abandoned(join(parent, name)));
  if (gone.length === 0) return;
  const listed = await run("docker", ["ps", "-a", "--filter", `label=${BUILD_LABEL}`, "--format", `{{.ID}} {{.Label "${BUILD_LABEL}"}}`], { allowFailure: true, timeout: 60_000 });
  const containers = listed.code !== 0 ? [] : listed.stdout.split("\n").map((line) => line.split(" ")).filter(([id, folder]) => id && folder && gone.includes(folder)).map(([id]) => id ?? "");
  // the final build step's image, made from the user's (its id is in the folder once built)
  const images = gone.map((name) => readIid(join(parent, name, FINAL_IID))).filter((id): id is string => id !== null);
  if (containers.length > 0) await run("docker", ["rm", "-f", ...containers], { allowFailure: true, timeout: 120_000 });
  if (images.length > 0) await run("docker", ["rmi", ...images], { allowFailure: true, timeout: 120_000 });
  for (const name of gone) discardInBackground(home, join(parent, name));
}
