// Named persistent volumes: folders heyvm keeps under HEYO_HOME/volumes/<name>/data that outlive
// sandboxes and mount into any of them (`create --volume`, `wt --volume`, mounts in sandbox.json).
// While a sandbox runs, its backend gives its host uid access to the folder as to any writable
// mount, and takes it back (files handed to the folder's owner) when the sandbox is removed
// (backends/sandbox-release.ts). What a sandbox wrote there is never read by heyvm as anything but
// names to remove, and removed without following links (shared/safe-fs.ts).
import { mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ConflictError, NotFoundError, UserError } from "../shared/errors.js";
import { readJsonFile, str, writeJsonFile } from "../shared/json.js";
import { removeTree } from "../shared/safe-fs.js";
import type { HeyoHome } from "../state/home.js";
import type { ExtraMount, SandboxSpec } from "../state/records.js";
import { allSandboxes } from "./catalog.js";
import { checkNoOverlap, checkSandboxPath, makeMountPoint } from "./mount-rules.js";

const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const DATA = "data";
const RECORD = "volume.json";

export interface VolumeInfo {
  name: string;
  /** The host folder that holds the volume's files (what `volume path` prints). */
  path: string;
  created_at: string;
  /** Sandboxes whose records mount it (running or not). */
  used_by: string[];
}

function volumesRoot(home: HeyoHome): string {
  return join(home.root, "volumes");
}

function checkName(name: string): string {
  if (!VOLUME_NAME.test(name)) throw new UserError(`"${name}" is not a volume name`, { hint: "use letters, digits, '.', '_' and '-' (at most 63), starting with a letter or digit" });
  return name;
}

export function volumeDataPath(home: HeyoHome, name: string): string {
  return join(volumesRoot(home), checkName(name), DATA);
}

function usersOf(home: HeyoHome, dataPath: string): string[] {
  return allSandboxes(home).filter((entry) => entry.spec.mounts.some((mount) => mount.host === dataPath)).map((entry) => entry.spec.id);
}

function infoOf(home: HeyoHome, name: string): VolumeInfo | undefined {
  const record = readJsonFile(join(volumesRoot(home), name, RECORD));
  if (!record) return undefined;
  const path = volumeDataPath(home, name);
  return { name, path, created_at: str(record, "createdAt") ?? "", used_by: usersOf(home, path) };
}

export function getVolume(home: HeyoHome, name: string): VolumeInfo {
  const info = infoOf(home, checkName(name));
  if (!info) throw new NotFoundError(`no volume named ${name}`, `create it with \`heyvm volume create ${name}\``);
  return info;
}

export function createVolume(home: HeyoHome, name: string): VolumeInfo {
  const folder = join(volumesRoot(home), checkName(name));
  mkdirSync(volumesRoot(home), { recursive: true, mode: 0o755 });
  // made whole in a new folder, then renamed into place: a volume either is there complete or not at all
  const staging = join(volumesRoot(home), `.new-${name}-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(join(staging, DATA), { recursive: true, mode: 0o755 });
  writeJsonFile(join(staging, RECORD), { name, createdAt: new Date().toISOString() });
  try {
    renameSync(staging, folder);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    if (infoOf(home, name)) throw new ConflictError(`a volume named ${name} exists already`, `see it with \`heyvm volume list\`, or choose another name`);
    throw error;
  }
  return getVolume(home, name);
}

export function listVolumes(home: HeyoHome): VolumeInfo[] {
  let names: string[] = [];
  try {
    names = readdirSync(volumesRoot(home)).filter((name) => VOLUME_NAME.test(name));
  } catch {
    return [];
  }
  return names.sort().flatMap((name) => infoOf(home, name) ?? []);
}

export interface RemoveVolumeResult {
  name: string;
  purged: boolean;
}

/** Removes a volume no sandbox mounts; one that holds files only with purge (its data goes too). */
export function removeVolume(home: HeyoHome, name: string, options: { purge: boolean }): RemoveVolumeResult {
  const info = getVolume(home, name);
  if (info.used_by.length > 0) {
    throw new ConflictError(`volume ${name} is in use by ${info.used_by.join(", ")}`, `remove ${info.used_by.length === 1 ? "that sandbox" : "those sandboxes"} first (heyvm rm <id> -y); a volume outlives the sandboxes that mount it`);
  }
  const holdsFiles = readdirSync(info.path).length > 0;
  if (holdsFiles && !options.purge) throw new ConflictError(`volume ${name} holds files at ${info.path}`, `add --purge to delete them with the volume, or copy them out first`);
  removeTree(volumesRoot(home), name);
  return { name, purged: holdsFiles };
}

/** `--volume NAME[:PATH]` (PATH defaults to /volumes/NAME); a volume not made yet is created. */
export function parseVolumeFlag(text: string): { name: string; path: string } {
  const at = text.indexOf(":");
  const name = checkName(at < 0 ? text : text.slice(0, at));
  const path = at < 0 ? `/volumes/${name}` : text.slice(at + 1);
  return { name, path };
}

export interface VolumeMount {
  mount: ExtraMount;
  /** The volume did not exist and was created for this. */
  created: boolean;
}

/** The mounts of `--volume` flags for a sandbox on `backend` (VM backends: under /workspace only). */
export function volumeMounts(home: HeyoHome, flags: readonly string[], backend: SandboxSpec["backend"]): VolumeMount[] {
  // every flag is checked before any volume is created: a refused request makes nothing
  const asked = flags.map((flag) => {
    const { name, path } = parseVolumeFlag(flag);
    return { flag, name, guest: checkSandboxPath(path, backend !== "bubblewrap") };
  });
  asked.forEach((one, i) => {
    if (asked.some((other, j) => j < i && (other.name === one.name || other.guest === one.guest))) throw new UserError(`--volume ${one.flag} repeats a volume or a sandbox path`);
  });
  return asked.map(({ name, guest }) => {
    const existing = infoOf(home, name);
    const info = existing ?? createVolume(home, name);
    return { mount: { host: info.path, guest, readOnly: false }, created: existing === undefined };
  });
}

/** Adds volume mounts to a record, checked against its other mounts (and their mount points made for a VM). */
export function withVolumes(spec: SandboxSpec, volumes: readonly VolumeMount[]): SandboxSpec {
  let next = spec;
  for (const { mount } of volumes) {
    if (next.mounts.some((m) => m.host === mount.host && m.guest === mount.guest)) continue;
    checkNoOverlap(next, mount);
    makeMountPoint(next, mount.guest);
    next = { ...next, mounts: [...next.mounts, mount] };
  }
  return next;
}
