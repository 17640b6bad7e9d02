// Every sandbox's records (sandbox.json, exit.json) in one file, HEYO_HOME/catalog.json, so that
// `heyvm list --all` and name resolution read one file instead of two or three per sandbox
// (each file read is several system calls, and agents list in loops).
//
// It is a cache, never the truth: the set of sandboxes always comes from listing sandboxes/
// (a folder removed by hand drops out, a new one is read), and every writer of a record marks
// the sandbox in HEYO_HOME/changed/ afterwards (records.ts markChanged; the native owner
// monitor too, after exit.json). A reader removes a marker *before* it reads the records, so a
// write racing with the read leaves a new marker behind and is read next time. Index updates
// happen under a lock, re-reading the index inside it, so two readers never write back an
// older picture over a newer one; a reader that finds the lock taken reads the marked
// sandboxes' records directly and writes nothing.
import { closeSync, existsSync, openSync, readFileSync, readdirSync, renameSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { isErrnoError } from "../shared/errors.js";
import { isObject } from "../shared/json.js";
import type { HeyoHome } from "./home.js";
import { isPidAlive } from "./liveness.js";
import { parseExit, parseSpec, readExit, readSpec, type ExitRecord, type SandboxEntry, type SandboxSpec } from "./records.js";
import { SandboxDir } from "./sandbox-dir.js";

const INDEX_VERSION = 1;

/** A sandbox with the records the catalog keeps of it. */
export interface CatalogEntry extends SandboxEntry {
  lastExit: ExitRecord | undefined;
}

interface IndexedRecords {
  spec: SandboxSpec;
  exit: ExitRecord | null;
}

function listNames(path: string): string[] {
  try {
    return readdirSync(path).filter((name) => name.startsWith("sb-"));
  } catch (error) {
    if (isErrnoError(error) && (error.code === "ENOENT" || error.code === "ENOTDIR")) return [];
    throw error;
  }
}

function readIndex(home: HeyoHome): Map<string, IndexedRecords> {
  const index = new Map<string, IndexedRecords>();
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(home.catalogIndex, "utf8"));
  } catch {
    return index; // absent or torn: rebuilt from the records
  }
  if (!isObject(raw) || raw.version !== INDEX_VERSION || !isObject(raw.sandboxes)) return index;
  for (const [id, value] of Object.entries(raw.sandboxes)) {
    if (!isObject(value) || !isObject(value.spec)) continue;
    const spec = parseSpec(value.spec);
    if (spec && spec.id === id) index.set(id, { spec, exit: isObject(value.exit) ? parseExit(value.exit) : null });
  }
  return index;
}

/** A spec without the fields that hold their defaults (parseSpec fills them in): a smaller file to read. */
function compact(spec: SandboxSpec): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(spec)) {
    const isDefault =
      value === null ||
      (key === "network" && value === true) ||
      (Array.isArray(value) && value.length === 0) ||
      (typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length === 0);
    if (!isDefault) kept[key] = value;
  }
  return kept;
}

function writeIndex(home: HeyoHome, index: Map<string, IndexedRecords>): void {
  const sandboxes: Record<string, { spec: Record<string, unknown>; exit?: ExitRecord }> = {};
  for (const [id, records] of index) sandboxes[id] = records.exit ? { spec: compact(records.spec), exit: records.exit } : { spec: compact(records.spec) };
  const temp = `${home.catalogIndex}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify({ version: INDEX_VERSION, sandboxes }));
  renameSync(temp, home.catalogIndex);
}

/** The first line of catalog.keys (the native launcher checks it: scripts/native-constants.mjs). */
export const KEYS_HEADER = "heyvm-catalog-keys 1";

/** A name or branch as the launcher compares it; one it cannot be asked for (not plain ASCII) reads as DEL. */
function keyField(text: string): string {
  return /^[\x20-\x7e]*$/.test(text) ? text : "\x7f";
}

/**
 * HEYO_HOME/catalog.keys: what the native launcher resolves a name, branch or id prefix with,
 * written with the index (so under its lock, after the changed markers were taken). One line per
 * folder in sandboxes/: `S id name branch` (tab-separated), or `X id` for a folder without
 * readable records. Names and branches never change once a sandbox is made, so a reader that
 * finds no changed markers and every folder listed may trust it.
 */
function writeKeys(home: HeyoHome, ids: readonly string[], index: Map<string, IndexedRecords>): void {
  const lines = [KEYS_HEADER];
  for (const id of ids) {
    const spec = index.get(id)?.spec;
    lines.push(spec && spec.id === id ? `S\t${id}\t${keyField(spec.name)}\t${keyField(spec.git?.branch ?? "")}` : `X\t${id}`);
  }
  const temp = `${home.catalogKeys}.${process.pid}.tmp`;
  writeFileSync(temp, `${lines.join("\n")}\n`);
  renameSync(temp, home.catalogKeys);
}

function readRecords(home: HeyoHome, id: string): IndexedRecords | undefined {
  const dir = new SandboxDir(home, id);
  const spec = readSpec(dir);
  return spec ? { spec, exit: readExit(dir) ?? null } : undefined;
}

/** Takes the index lock without waiting; undefined when another reader holds it. */
function tryLock(home: HeyoHome): (() => void) | undefined {
  const path = `${home.catalogIndex}.lock`;
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => unlinkSync(path);
    } catch (error) {
      if (!isErrnoError(error) || error.code !== "EEXIST") return undefined; // e.g. read-only home
      let holder = Number.NaN;
      try {
        holder = Number(readFileSync(path, "utf8"));
      } catch {
        continue; // released meanwhile
      }
      if (Number.isInteger(holder) && holder > 0 && isPidAlive(holder)) return undefined;
      try {
        unlinkSync(path); // left by a reader that died
      } catch {
        // someone else removed it first
      }
    }
  }
  return undefined;
}

function takeMarkers(home: HeyoHome, ids: readonly string[]): void {
  for (const id of ids) {
    try {
      unlinkSync(`${home.changed}/${id}`);
    } catch {
      // gone already: another reader took it
    }
  }
}

/** Every sandbox with a readable sandbox.json, with why its last owner ended. */
export function catalogEntries(home: HeyoHome): CatalogEntry[] {
  const ids = listNames(home.sandboxes);
  const present = new Set(ids);
  const index = readIndex(home);
  const marked = listNames(home.changed);
  const stale = new Set(marked);
  for (const id of ids) if (!index.has(id)) stale.add(id);
  const gone = [...index.keys()].some((id) => !present.has(id));

  let result = index;
  // an index written before the keys file existed (or without it) is written once more, with it
  if (stale.size > 0 || gone || (ids.length > 0 && !existsSync(home.catalogKeys))) {
    const unlock = tryLock(home);
    if (unlock) {
      try {
        takeMarkers(home, marked);
        result = readIndex(home); // inside the lock: the newest picture
        for (const id of result.keys()) if (!present.has(id)) result.delete(id);
        for (const id of stale) {
          const records = present.has(id) ? readRecords(home, id) : undefined;
          if (records) result.set(id, records);
          else result.delete(id);
        }
        writeIndex(home, result);
        writeKeys(home, ids, result);
      } finally {
        unlock();
      }
    } else {
      result = new Map(index);
      for (const id of stale) {
        const records = present.has(id) ? readRecords(home, id) : undefined;
        if (records) result.set(id, records);
        else result.delete(id);
      }
    }
  }
  const entries: CatalogEntry[] = [];
  for (const id of ids) {
    const records = result.get(id);
    if (records) entries.push({ dir: new SandboxDir(home, id), spec: records.spec, lastExit: records.exit ?? undefined });
  }
  return entries;
}
