// Which host uid/gid a sandbox is when heyvm runs as root: each sandbox its own, so that two
// sandboxes (two local ones, two cloud tenants of the server) never share a host identity and
// cannot reach each other's files. The ids come from root's subordinate range (/etc/subuid and
// /etc/subgid: slot n is the range's start + n), or, when root has none, from the 65,536 ids
// above systemd's container range (FALLBACK_START), checked to belong to no one.
//
// A slot is held in two places: the sandbox's own folder (host-ids.json) and a host-wide
// registry, one file per slot naming that folder (REGISTRY), so that sandboxes of different
// HEYO_HOMEs (a user's, the server's, a test's) never get the same one. A slot is taken under a
// host-wide lock and is free again only when the folder it names no longer records it (the
// sandbox was removed): never while a sandbox record holds it.
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { UnavailableError } from "../shared/errors.js";
import { withLockAt } from "../state/lock.js";
import { SANDBOX_FILES, type SandboxDir } from "../state/sandbox-dir.js";

export interface HostUser {
  uid: number;
  gid: number;
  /** heyvm runs as root and the sandbox as this other, unprivileged uid. */
  dropsRoot: boolean;
}

/** Where the host-wide record of taken slots lives (root only). */
export const REGISTRY = "/var/lib/heyvm/host-ids";
const REGISTRY_LOCK = "/var/lib/heyvm/host-ids.lock";

/** The first id above systemd's container range (524288…1879048191), owned by no one on a usual host. */
const FALLBACK_START = 1_879_048_192;
const FALLBACK_COUNT = 65_536;

interface IdRange {
  owner: string;
  start: number;
  count: number;
}

function readRanges(file: string): IdRange[] {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .map((line) => line.trim().split(":"))
    .filter((fields) => fields.length === 3)
    .map(([owner = "", start = "", count = ""]) => ({ owner, start: Number(start), count: Number(count) }))
    .filter((range) => Number.isInteger(range.start) && Number.isInteger(range.count) && range.count > 0);
}

function accountIds(file: string): number[] {
  try {
    return readFileSync(file, "utf8").split("\n").map((line) => Number(line.split(":")[2])).filter(Number.isInteger);
  } catch {
    return [];
  }
}

/** Root's own subordinate range, else the fallback range if no one else holds any of it. */
function sandboxRange(rangesFile: string, accountsFile: string, kind: string): { start: number; count: number } {
  const ranges = readRanges(rangesFile);
  const own = ranges.find((range) => range.owner === "root" || range.owner === "0");
  if (own) return { start: own.start, count: own.count };
  const end = FALLBACK_START + FALLBACK_COUNT;
  const holder = ranges.find((range) => range.start < end && FALLBACK_START < range.start + range.count);
  const account = accountIds(accountsFile).find((id) => id >= FALLBACK_START && id < end);
  if (holder || account !== undefined) {
    throw new UnavailableError(
      `heyvm runs as root and needs ${kind}s that belong to no one for its sandboxes, but ${FALLBACK_START}…${end - 1} ${holder ? `overlaps ${holder.owner}'s range in ${rangesFile}` : `holds ${account} from ${accountsFile}`}`,
      `give root a range of its own: add a line "root:<first id>:65536" to /etc/subuid and /etc/subgid`,
    );
  }
  return { start: FALLBACK_START, count: FALLBACK_COUNT };
}

interface HeldIds {
  slot: number;
  uid: number;
  gid: number;
}

function readHeld(file: string): HeldIds | undefined {
  try {
    const value = JSON.parse(readFileSync(file, "utf8")) as Partial<HeldIds>;
    if (Number.isInteger(value.slot) && Number.isInteger(value.uid) && Number.isInteger(value.gid)) return value as HeldIds;
  } catch {
    // missing or unreadable: holds nothing
  }
  return undefined;
}

/** Whether the registry's entry for a slot still names a sandbox folder that records that slot. */
function slotHeld(slot: number): boolean {
  let folder: string;
  try {
    folder = readFileSync(join(REGISTRY, String(slot)), "utf8").trim();
  } catch {
    return false;
  }
  return readHeld(join(folder, SANDBOX_FILES.hostIds))?.slot === slot;
}

/** Takes the first free slot for this sandbox folder (under the registry's lock) and records it in both places. */
async function takeSlot(dir: SandboxDir): Promise<HeldIds> {
  const uids = sandboxRange("/etc/subuid", "/etc/passwd", "uid");
  const gids = sandboxRange("/etc/subgid", "/etc/group", "gid");
  const count = Math.min(uids.count, gids.count);
  mkdirSync(REGISTRY, { recursive: true, mode: 0o700 });
  return withLockAt(REGISTRY_LOCK, "heyvm's sandbox host ids", 30_000, async () => {
    const taken = new Set(readdirSync(REGISTRY).map(Number).filter((slot) => Number.isInteger(slot) && slotHeld(slot)));
    let slot = 0;
    while (taken.has(slot)) slot++;
    if (slot >= count) {
      throw new UnavailableError(`all ${count} host ids of heyvm's range are held by sandboxes`, "remove sandboxes you no longer need (`heyvm rm <id> -y`, `heyvm prune`), or give root a larger range in /etc/subuid and /etc/subgid");
    }
    const held = { slot, uid: uids.start + slot, gid: gids.start + slot };
    writeFileSync(dir.hostIdsPath, `${JSON.stringify(held)}\n`, { mode: 0o644 });
    const entry = openSync(join(REGISTRY, String(slot)), "w", 0o600);
    try {
      writeSync(entry, `${dir.root}\n`);
    } finally {
      closeSync(entry);
    }
    return held;
  });
}

/**
 * The host uid/gid heyo is for this sandbox (never root): heyvm's own user when that is not
 * root, else the sandbox's own slot, taken on its first start and kept until it is removed.
 */
export async function sandboxHostUser(dir: SandboxDir): Promise<HostUser> {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  if (uid !== 0) return { uid, gid, dropsRoot: false };
  const recorded = readHeld(dir.hostIdsPath);
  const held = recorded && slotHeldBy(recorded.slot, dir) ? recorded : await takeSlot(dir);
  return { uid: held.uid, gid: held.gid, dropsRoot: true };
}

function slotHeldBy(slot: number, dir: SandboxDir): boolean {
  try {
    return readFileSync(join(REGISTRY, String(slot)), "utf8").trim() === dir.root;
  } catch {
    return false;
  }
}

/** The ids a sandbox holds, if it ever took any (read when it is removed). */
export function heldHostUser(dir: SandboxDir): HostUser | undefined {
  const held = readHeld(dir.hostIdsPath);
  return held ? { uid: held.uid, gid: held.gid, dropsRoot: true } : undefined;
}

/**
 * Who the sandbox is on the host as things stand, without taking a slot: heyvm's own user when
 * that is not root (sandboxHostUser's rule), else the slot it holds (root itself before its first
 * start, when it has none yet).
 */
export function knownHostUser(dir: SandboxDir): { uid: number; gid: number } {
  const own = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  if (own.uid !== 0) return own;
  return heldHostUser(dir) ?? own;
}

/** Frees the sandbox's slot in the registry (its folder is about to go). */
export function releaseHostIds(dir: SandboxDir): void {
  const held = readHeld(dir.hostIdsPath);
  if (held && slotHeldBy(held.slot, dir)) rmSync(join(REGISTRY, String(held.slot)), { force: true });
  rmSync(dir.hostIdsPath, { force: true });
}
