// What a sandbox's host user may reach. heyo is the user who runs heyvm, except when that is
// root: root's files (/etc/shadow, keys under /etc and /usr…) would then be heyo's own. As root,
// heyvm runs each sandbox as an unprivileged uid of its own (../host-ids.ts) that owns nothing on
// the host, and lets it reach exactly what it is given: search (x) on the folders above each
// bind source, and read/write on the workspace and the git folder through ACL entries (default
// entries too, so that what either side creates later stays shared). Files the sandbox creates
// belong to that uid on the host until the sandbox is removed: then revokeSandboxAccess takes
// every entry back and gives those files to the owner of the tree they are in.
import { lchownSync, lstatSync, statSync } from "node:fs";
import { OperationFailedError, UnavailableError, errorMessage } from "../../shared/errors.js";
import { findSystemExecutable, run } from "../../shared/run.js";
import { walkTree } from "../../shared/safe-fs.js";
import { ancestors, blockedFolders } from "../path-access.js";
import type { HostUser } from "../host-ids.js";
import type { Reporter } from "../types.js";

export { sandboxHostUser, type HostUser } from "../host-ids.js";

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
export async function grantTree(user: HostUser, root: string): Promise<boolean> {
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
  // each tree on its own, at once (a new worktree and its git store: two walks and setfacl runs)
  await Promise.all(paths.writable.map(async (path) => {
    const started = performance.now();
    const granted = await grantTree(user, path).catch((error: unknown) => {
      throw new OperationFailedError(`could not give the sandbox's uid ${user.uid} access to ${path}: ${errorMessage(error)}`, "when heyvm runs as root its sandboxes need ACLs on the worktree's filesystem (ext4, xfs, btrfs, tmpfs have them); or run heyvm as a regular user");
    });
    if (granted) reporter.info(`granted the sandbox's uid ${user.uid} read/write access (ACL) to ${path} in ${Math.round(performance.now() - started)} ms`);
  }));
}

/** What getfacl -c -n shows for one path: its entries, named ones split by kind. */
function parseAcl(block: string): { entries: Set<string>; named: string[]; namedDefault: string[]; hasDefault: boolean } {
  const entries = new Set(block.split("\n").map((line) => line.trim()).filter((line) => line && !line.startsWith("#")).map((line) => line.replace(/\s.*$/, "")));
  const named = [...entries].filter((entry) => /^(user|group):[^:]+:/.test(entry));
  const namedDefault = [...entries].filter((entry) => /^default:(user|group):[^:]+:/.test(entry));
  return { entries, named, namedDefault, hasDefault: [...entries].some((entry) => entry.startsWith("default:")) };
}

/** The setfacl arguments that remove heyvm's entries from one path, or none when it has none. */
function removalFor(block: string, ours: { access: string; defaults: string[] }): string[] | undefined {
  const acl = parseAcl(block);
  const isOurs = (entry: string) => entry.startsWith(`${ours.access}:`) || ours.defaults.some((own) => entry.startsWith(`${own}:`));
  if (![...acl.entries].some(isOurs)) return undefined;
  const keptNamed = acl.named.filter((entry) => !isOurs(entry));
  const keptDefault = acl.namedDefault.filter((entry) => !isOurs(entry));
  // nothing of the user's own left: no extended ACL at all (a bare mask would stay otherwise)
  if (keptNamed.length === 0 && keptDefault.length === 0) return ["-b"];
  const present = [ours.access, ...ours.defaults].filter((own) => [...acl.entries].some((entry) => entry.startsWith(`${own}:`)));
  return ["-x", present.map((entry) => entry.replace(/^default:/, "d:")).join(","), ...(keptDefault.length === 0 && acl.hasDefault ? ["-k"] : [])];
}

/**
 * Gives back a tree a sandbox's own uid was given: files and folders it made go to the tree's
 * owner (its top's uid/gid), and every ACL entry heyvm added for it (its own, the defaults)
 * is removed, so nothing of heyvm's stays on the user's files. The same walk as the grant's
 * (safe-fs.ts walkTree): links are changed as links and never followed.
 */
async function revokeTree(user: HostUser, root: string): Promise<void> {
  const top = lstatSync(root);
  if (!top.isDirectory()) return;
  await walkTree(root, 500, async (entries) => {
    for (const { handle, stat } of entries) {
      if (stat.uid === user.uid || stat.gid === user.gid) lchownSync(handle, stat.uid === user.uid ? top.uid : stat.uid, stat.gid === user.gid ? top.gid : stat.gid);
    }
    await removeEntries(user.uid, top.uid, entries.filter((entry) => !entry.stat.isSymbolicLink()).map((entry) => entry.handle));
  });
}

/** Removes the entries heyvm added for uid (and the owner's default entry) from each path. */
async function removeEntries(uid: number, owner: number, paths: string[]): Promise<void> {
  const ours = { access: `user:${uid}`, defaults: [`default:user:${uid}`, ...(owner !== 0 && owner !== uid ? [`default:user:${owner}`] : [])] };
  const getfacl = aclTool("getfacl");
  const setfacl = aclTool("setfacl");
  const byArgs = new Map<string, string[]>();
  for (let i = 0; i < paths.length; i += 500) {
    const batch = paths.slice(i, i + 500);
    const listed = await run(getfacl, ["-c", "-n", "--", ...batch], { allowFailure: true });
    const blocks = listed.stdout.split(/\n\n/);
    batch.forEach((path, index) => {
      const args = removalFor(blocks[index] ?? "", ours);
      if (args) byArgs.set(args.join("\0"), [...(byArgs.get(args.join("\0")) ?? []), path]);
    });
  }
  for (const [key, list] of byArgs) {
    for (let i = 0; i < list.length; i += 500) await run(setfacl, ["-P", ...key.split("\0"), "--", ...list.slice(i, i + 500)]);
  }
}

/**
 * Undoes grantSandboxAccess for a sandbox being removed: its trees (workspace, git folder) and
 * the search entries on the folders above them. Nothing to do for a sandbox that never dropped
 * root (it ran as the user who owns its files).
 */
export async function revokeSandboxAccess(user: HostUser, trees: string[], others: string[]): Promise<void> {
  if (!user.dropsRoot) return;
  for (const tree of trees) {
    try {
      await revokeTree(user, tree);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  const above = new Set([...trees, ...others].flatMap((path) => ancestors(path)));
  await removeEntries(user.uid, 0, [...above]);
}
