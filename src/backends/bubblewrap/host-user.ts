// Who a bubblewrap sandbox is on the host. heyo (uid 1000 inside) is the user who runs heyvm,
// except when that is root: root's files (/etc/shadow, keys under /etc and /usr…) would then be
// heyo's own, readable and, where mounted writable, writable from inside. As root, heyvm runs
// the sandbox as an unprivileged uid that owns nothing on the host, and lets it reach exactly
// what it is given: search (x) on the folders above each bind source, and read/write on the
// workspace and the git folder through ACL entries (default entries too, so that what either
// side creates later stays shared). Files the sandbox creates belong to that uid on the host.
import { lchownSync, readFileSync, statSync } from "node:fs";
import { OperationFailedError, UnavailableError, errorMessage } from "../../shared/errors.js";
import { findSystemExecutable, run } from "../../shared/run.js";
import { walkTree } from "../../shared/safe-fs.js";
import { blockedFolders } from "../path-access.js";
import type { Reporter } from "../types.js";

export interface HostUser {
  uid: number;
  gid: number;
  /** heyvm runs as root and the sandbox as this other, unprivileged uid. */
  dropsRoot: boolean;
}

/**
 * Used when /etc/subuid and /etc/subgid give root no range of its own: the first id above
 * systemd's container range (524288…1879048191), owned by no one on a usual host.
 */
const FALLBACK_ID = 1_879_048_192;

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

function accountIds(file: string): Set<number> {
  try {
    return new Set(readFileSync(file, "utf8").split("\n").map((line) => Number(line.split(":")[2])).filter(Number.isInteger));
  } catch {
    return new Set();
  }
}

/** The first id of root's own subordinate range, else FALLBACK_ID if nobody has it. */
function unprivilegedId(rangesFile: string, accountsFile: string, kind: string): number {
  const ranges = readRanges(rangesFile);
  const own = ranges.find((range) => range.owner === "root" || range.owner === "0");
  if (own) return own.start;
  const holder = ranges.find((range) => range.start <= FALLBACK_ID && FALLBACK_ID < range.start + range.count);
  if (holder || accountIds(accountsFile).has(FALLBACK_ID)) {
    throw new UnavailableError(
      `heyvm runs as root and needs a ${kind} that belongs to no one for its sandboxes, but ${FALLBACK_ID} is ${holder ? `in ${holder.owner}'s range in ${rangesFile}` : `taken in ${accountsFile}`}`,
      `give root a range of its own: add a line "root:<first id>:65536" to /etc/subuid and /etc/subgid`,
    );
  }
  return FALLBACK_ID;
}

/** The host uid/gid heyo is for this run of heyvm (never root). */
export function sandboxHostUser(): HostUser {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  if (uid !== 0) return { uid, gid, dropsRoot: false };
  return { uid: unprivilegedId("/etc/subuid", "/etc/passwd", "uid"), gid: unprivilegedId("/etc/subgid", "/etc/group", "gid"), dropsRoot: true };
}


function aclTool(name: "setfacl" | "getfacl"): string {
  const path = findSystemExecutable(name);
  if (!path) throw new UnavailableError(`${name} is not installed (heyvm runs as root and grants its sandboxes access with ACLs)`, "install it with `apt-get install acl`");
  return path;
}

/**
 * Gives heyvm's own folder to the sandbox user, not following links (shared/safe-fs.ts walkTree:
 * not even one swapped in during the walk): symbolic links are changed themselves, and a file
 * with more than one name (a hard link a sandbox could have made to a host file) is left alone.
 */
async function chownTree(path: string, user: HostUser): Promise<void> {
  await walkTree(path, 500, (entries) => {
    for (const { handle, stat } of entries) if (!(stat.isFile() && stat.nlink > 1)) lchownSync(handle, user.uid, user.gid);
  });
}

async function setAcl(tool: string, entries: string[], paths: string[]): Promise<void> {
  // -P: a path that has become a symbolic link meanwhile is skipped, not followed
  for (let i = 0; i < paths.length; i += 500) await run(tool, ["-P", "-m", entries.join(","), "--", ...paths.slice(i, i + 500)]);
}

/**
 * Read/write for the sandbox user on a whole tree, with default entries so that what either
 * side creates later stays shared (what the sandbox creates stays writable for the folder's
 * owner too). Done once per tree: when its top already has the entry, it was done before,
 * before any sandbox running as this user could have changed anything under it.
 */
async function grantTree(user: HostUser, root: string): Promise<boolean> {
  const current = await run(aclTool("getfacl"), ["-cpn", "--", root], { allowFailure: true });
  if (new RegExp(`^user:${user.uid}:rwx(\\s|$)`, "m").test(current.stdout)) return false;
  const owner = statSync(root).uid;
  const access = [`u:${user.uid}:rwX`];
  const defaults = [`d:u:${user.uid}:rwX`, ...(owner !== 0 && owner !== user.uid ? [`d:u:${owner}:rwX`] : [])];
  const tool = aclTool("setfacl");
  // entries are named by handles through their open folders (safe-fs.ts): a folder the sandbox
  // swaps for a link meanwhile is never followed by setfacl
  await walkTree(root, 500, async (entries) => {
    const below = entries.filter((entry) => entry.path !== root);
    // a file with other names may be a host file linked in: never granted
    await setAcl(tool, access, below.filter((entry) => entry.stat.isFile() && entry.stat.nlink === 1).map((entry) => entry.handle));
    await setAcl(tool, [...access, ...defaults], below.filter((entry) => entry.stat.isDirectory()).map((entry) => entry.handle));
  });
  await setAcl(tool, [...access, ...defaults], [root]); // the top last: it marks the tree as done
  return true;
}

export interface SandboxPaths {
  /** Bound read-write: the workspace and the git folder. */
  writable: string[];
  /** Bound read-only or read through: passwd, the image… (only the way there is granted). */
  readable: string[];
  /** heyvm's own folders the sandbox owns (its home, pasta's pid file folder). */
  owned: string[];
}

/**
 * Lets an unprivileged sandbox user reach what its sandbox is given (nothing to do when heyvm
 * does not run as root: then the sandbox is the user who owns all of it already).
 */
export async function grantSandboxAccess(user: HostUser, paths: SandboxPaths, reporter: Reporter): Promise<void> {
  if (!user.dropsRoot) return;
  for (const dir of paths.owned) await chownTree(dir, user);
  const blocked = blockedFolders([...paths.writable, ...paths.readable, ...paths.owned], user);
  if (blocked.size > 0) {
    const tool = aclTool("setfacl");
    for (const dir of blocked) await run(tool, ["-m", `u:${user.uid}:x`, "--", dir]);
    reporter.info(`granted the sandbox's uid ${user.uid} search access (ACL) to ${[...blocked].join(", ")}`);
  }
  for (const path of paths.writable) {
    const started = performance.now();
    const granted = await grantTree(user, path).catch((error: unknown) => {
      throw new OperationFailedError(`could not give the sandbox's uid ${user.uid} access to ${path}: ${errorMessage(error)}`, "when heyvm runs as root its sandboxes need ACLs on the worktree's filesystem (ext4, xfs, btrfs, tmpfs have them); or run heyvm as a regular user");
    });
    if (granted) reporter.info(`granted the sandbox's uid ${user.uid} read/write access (ACL) to ${path} in ${Math.round(performance.now() - started)} ms`);
  }
}
