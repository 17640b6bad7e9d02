// The launch record (sandboxes/<id>/launch.json): what the native launcher (native/launcher/)
// needs to answer `heyvm exec` and `heyvm list` for a running sandbox without starting Node,
// written by the owner once the sandbox is ready. Everything in it is computed here, by the same
// TypeScript the Node path runs: the backend's exec recipe, the sandbox's defaults, the list row.
// It is made from the exact text of sandbox.json and owner.json, and the launcher uses it only
// while both files still read the same; what can change meanwhile (is the owner alive, the
// owner's word, the machine's init process, the caller's PATH and terminal) it checks itself.
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import type { ExecRecipe } from "../backends/exec-recipe.js";
import { loadBackend } from "../backends/registry.js";
import { parseOwner, parseSpec } from "../state/records.js";
import type { SandboxDir } from "../state/sandbox-dir.js";
import { sandboxInfo } from "./sandbox-info.js";

/** Read by native/launcher/record.c, which refuses any other version (the Node path answers then). */
export const LAUNCH_RECORD_VERSION = 1;

export interface LaunchRecord {
  version: typeof LAUNCH_RECORD_VERSION;
  /** The text of sandbox.json and owner.json this record was made from. */
  specText: string;
  ownerText: string;
  /** The owner's liveness facts (state/status.ts checks the same three). */
  owner: { pid: number; startTime: string | null; bootId: string | null };
  /** The backend's recipe and the sandbox's own folder and variables (`create --working-directory/--env`); null: exec goes to Node. */
  exec: { recipe: ExecRecipe; cwd: string | null; env: Array<[string, string]> } | null;
  list: {
    /** The sandbox's element of `list --json` as printed (JSON.stringify(rows, null, 2)), while it is running. */
    json: string;
    /** The table's cells; the AGE cell is counted from ageFromMs (null: "-"). */
    cells: string[];
    ageFromMs: number | null;
    /** What list sorts by. */
    createdAt: string;
  };
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

function parseObject(text: string): Record<string, never> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, never>) : undefined;
  } catch {
    return undefined;
  }
}

/** The launch record of a sandbox whose owner has just written owner.json as running; undefined when it cannot be made. */
export async function makeLaunchRecord(dir: SandboxDir): Promise<LaunchRecord | undefined> {
  const specText = readText(dir.specPath);
  const ownerText = readText(dir.ownerPath);
  const specObject = specText === undefined ? undefined : parseObject(specText);
  const ownerObject = ownerText === undefined ? undefined : parseObject(ownerText);
  const spec = specObject && parseSpec(specObject);
  const owner = ownerObject && parseOwner(ownerObject);
  if (specText === undefined || ownerText === undefined || !spec || !owner || owner.state !== "running") return undefined;
  const backend = await loadBackend(spec.backend);
  const access = { dir, spec, owner };
  let exec: LaunchRecord["exec"] = null;
  try {
    exec = { recipe: backend.execRecipe(access), cwd: spec.workingDirectory, env: Object.entries(spec.env) };
  } catch {
    exec = null; // the Node path says what is wrong at each exec
  }
  const info = await sandboxInfo({ dir, spec, status: "running", owner, lastExit: undefined });
  const element = JSON.stringify([info], null, 2);
  const since = info.started_at ?? info.created_at;
  const ageFromMs = since ? Date.parse(since) : Number.NaN;
  return {
    version: LAUNCH_RECORD_VERSION,
    specText,
    ownerText,
    owner: { pid: owner.pid, startTime: owner.pidStartTime, bootId: owner.bootId },
    exec,
    list: {
      json: element.slice(2, -2), // without the array's "[\n" and "\n]"
      cells: [info.id, info.name, info.status, info.backend, info.branch ?? "-", "", info.worktree],
      ageFromMs: Number.isFinite(ageFromMs) ? ageFromMs : null,
      createdAt: spec.createdAt,
    },
  };
}

/** Writes the launch record (the owner calls this once the sandbox is ready). */
export async function writeLaunchRecord(dir: SandboxDir): Promise<void> {
  const record = await makeLaunchRecord(dir);
  if (!record) {
    rmSync(dir.launchPath, { force: true });
    return;
  }
  const temp = `${dir.launchPath}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(record)}\n`); // compact: the launcher reads it at every exec
  renameSync(temp, dir.launchPath);
}
