// Files heyvm opens in folders a sandbox can write (its home, the worktree, its mounts): reached
// from a trusted folder one name at a time, each opened with O_NOFOLLOW, so no symbolic link the
// sandbox left or swaps in meanwhile is ever followed, not in the last name and not in a folder on
// the way. An open folder is then named by /proc/<heyvm's pid>/fd/<n>/<name>: the kernel resolves
// that through the open folder itself, so the path is safe to hand to a call that takes a path
// (lchown) or to a tool heyvm runs as the same user (setfacl). Linux only, like the backends.
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readSync, readdirSync, rmdirSync, unlinkSync, writeSync, type Stats } from "node:fs";
import { isAbsolute } from "node:path";
import { OperationFailedError, isErrnoError } from "./errors.js";

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_DIRECTORY, O_NONBLOCK } = constants;
const O_CLOEXEC = 0o2000000; // Linux; Node opens with it anyway, said here for the reader

/** A file in a sandbox's folder that heyvm refused to open: a link, a device, a hard link… */
export class UnsafeFileError extends OperationFailedError {}

/** One name inside a folder: not empty, not "." or "..", no slash. */
function checkName(name: string): string {
  if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0")) throw new UnsafeFileError(`"${name}" is not a single file name`);
  return name;
}

/** The names of a relative path, each checked. */
function namesOf(relative: string): string[] {
  if (isAbsolute(relative)) throw new UnsafeFileError(`"${relative}" is not a relative path`);
  return relative.split("/").filter((part) => part !== "").map(checkName);
}

/** The path of `name` inside an open folder, resolved by the kernel through the folder itself. */
export function pathInFolder(folder: number, name?: string): string {
  return `/proc/${process.pid}/fd/${folder}${name === undefined ? "" : `/${checkName(name)}`}`;
}

/** Opens `name` in an open folder, never following a link there; ELOOP/ENOTDIR tell a link. */
function openIn(folder: number, name: string, flags: number, mode?: number): number {
  return openSync(pathInFolder(folder, name), flags | O_NOFOLLOW | O_CLOEXEC, mode);
}

/** Whether an error says "a symbolic link was there" (or a non-folder where a folder was asked). */
function isLinkError(error: unknown): boolean {
  return isErrnoError(error) && (error.code === "ELOOP" || error.code === "ENOTDIR" || error.code === "EMLINK");
}

/**
 * Opens the folder `relative` below `trusted` (a folder the sandbox cannot change, e.g. the
 * sandbox's own record folder or the worktree's top) without following any link below it.
 * Close the result with closeSync. Throws UnsafeFileError when a link is on the way.
 */
export function openFolder(trusted: string, relative = ""): number {
  let folder = openSync(trusted, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  try {
    for (const name of namesOf(relative)) {
      let next: number;
      try {
        next = openIn(folder, name, O_RDONLY | O_DIRECTORY);
      } catch (error) {
        if (isLinkError(error)) throw new UnsafeFileError(`${trusted}/${relative}: "${name}" is a symbolic link or not a folder; heyvm does not follow it`);
        throw error;
      }
      closeSync(folder);
      folder = next;
    }
    return folder;
  } catch (error) {
    closeSync(folder);
    throw error;
  }
}

/** Runs `use` with the folder open, and closes it. */
export function withFolder<T>(trusted: string, relative: string, use: (folder: number) => T): T {
  const folder = openFolder(trusted, relative);
  try {
    return use(folder);
  } finally {
    closeSync(folder);
  }
}

/**
 * Makes the folders of `relative` below `trusted` that are missing (a mount point inside a
 * worktree), one name at a time through open folders: a link on the way is refused, not followed.
 */
export function makeFolders(trusted: string, relative: string, mode = 0o755): void {
  const names = namesOf(relative);
  for (let depth = 0; depth < names.length; depth++) {
    withFolder(trusted, names.slice(0, depth).join("/"), (folder) => {
      try {
        mkdirSync(pathInFolder(folder, names[depth]), { mode });
      } catch (error) {
        if (!isErrnoError(error) || error.code !== "EEXIST") throw error;
      }
    });
  }
  withFolder(trusted, relative, () => undefined); // what is there now is a folder, reached without a link
}

function splitLast(relative: string): { folder: string; name: string } {
  const names = namesOf(relative);
  const name = names.pop();
  if (name === undefined) throw new UnsafeFileError(`"${relative}" names no file`);
  return { folder: names.join("/"), name };
}

/**
 * The content of the regular file `relative` below `trusted` (at most maxBytes), or undefined
 * when there is none. Never follows a link; refuses (UnsafeFileError) a link, anything but a
 * regular file (a fifo would block, a device is a host's), and a file with other names (a hard
 * link to a file the sandbox could not read itself).
 */
export function readRegularFile(trusted: string, relative: string, maxBytes = 1024 * 1024): Buffer | undefined {
  const { folder: parent, name } = splitLast(relative);
  let folder: number;
  try {
    folder = openFolder(trusted, parent);
  } catch (error) {
    if (isErrnoError(error) && error.code === "ENOENT") return undefined;
    throw error;
  }
  let fd: number;
  try {
    fd = openIn(folder, name, O_RDONLY | O_NONBLOCK);
  } catch (error) {
    if (isErrnoError(error) && error.code === "ENOENT") return undefined;
    if (isLinkError(error)) throw new UnsafeFileError(`${trusted}/${relative} is a symbolic link; heyvm does not follow it`);
    throw error;
  } finally {
    closeSync(folder);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new UnsafeFileError(`${trusted}/${relative} is not a regular file; heyvm does not read it`);
    if (stat.nlink > 1) throw new UnsafeFileError(`${trusted}/${relative} has other names (a hard link); heyvm does not read it`);
    if (stat.size > maxBytes) throw new UnsafeFileError(`${trusted}/${relative} is larger than ${maxBytes} bytes; heyvm does not read it`);
    const buffer = Buffer.alloc(Number(stat.size));
    let used = 0;
    for (let n = 1; n > 0 && used < buffer.length; used += n) n = readSync(fd, buffer, used, buffer.length - used, null);
    return buffer.subarray(0, used);
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates the file `relative` below `trusted` with `content` only if nothing by that name is
 * there (not even a link, which O_EXCL never follows); false when something was.
 */
export function createFileExclusive(trusted: string, relative: string, content: string | Uint8Array, mode = 0o644): boolean {
  const { folder: parent, name } = splitLast(relative);
  return withFolder(trusted, parent, (folder) => {
    let fd: number;
    try {
      fd = openIn(folder, name, O_WRONLY | O_CREAT | O_EXCL, mode);
    } catch (error) {
      if (isErrnoError(error) && error.code === "EEXIST") return false;
      throw error;
    }
    try {
      const bytes = typeof content === "string" ? Buffer.from(content) : content;
      for (let used = 0; used < bytes.length; ) used += writeSync(fd, bytes, used, bytes.length - used);
      return true;
    } finally {
      closeSync(fd);
    }
  });
}

/** An entry met by walkTree: its path for messages, a path safe to act on, and its lstat. */
export interface TreeEntry {
  /** The path as a user would name it (for messages only: it may lead elsewhere by now). */
  path: string;
  /** /proc/<pid>/fd/<folder>/<name>: this very entry, while its batch is being handled. */
  handle: string;
  stat: Stats;
}

interface HeldFolder {
  fd: number;
  /** Entries of this folder in the batch not yet handled. */
  pending: number;
  /** Its own entries have all been met. */
  finished: boolean;
}

/**
 * Meets `root` and everything below it without following a link, and hands the entries to
 * `handle` in batches of up to batchSize (folders before their entries; a link as a link, never
 * entered). Each folder is opened with O_NOFOLLOW from its parent's open descriptor and held
 * open until its entries' batch has been handled, so every handle names what was met, whatever
 * the sandbox renames or links meanwhile.
 */
export async function walkTree(root: string, batchSize: number, handle: (entries: TreeEntry[]) => Promise<void> | void): Promise<void> {
  const open = new Set<HeldFolder>();
  const batch: Array<{ entry: TreeEntry; folder: HeldFolder }> = [];
  const hold = (fd: number): HeldFolder => {
    const folder = { fd, pending: 0, finished: false };
    open.add(folder);
    return folder;
  };
  const release = (folder: HeldFolder) => {
    if (!folder.finished || folder.pending > 0 || !open.delete(folder)) return;
    closeSync(folder.fd);
  };
  const drain = async () => {
    const taken = batch.splice(0);
    if (taken.length > 0) await handle(taken.map((item) => item.entry));
    for (const item of taken) {
      item.folder.pending -= 1;
      release(item.folder);
    }
  };
  const add = async (entry: TreeEntry, folder: HeldFolder) => {
    folder.pending += 1;
    batch.push({ entry, folder });
    if (batch.length >= batchSize) await drain();
  };
  const walkFolder = async (folder: HeldFolder, path: string): Promise<void> => {
    const folders: string[] = [];
    for (const name of readdirSync(pathInFolder(folder.fd))) {
      const entryHandle = pathInFolder(folder.fd, name);
      let stat: Stats;
      try {
        stat = lstatSync(entryHandle);
      } catch (error) {
        if (isErrnoError(error) && error.code === "ENOENT") continue; // removed meanwhile
        throw error;
      }
      await add({ path: `${path}/${name}`, handle: entryHandle, stat }, folder);
      if (stat.isDirectory()) folders.push(name);
    }
    for (const name of folders) {
      let fd: number;
      try {
        fd = openIn(folder.fd, name, O_RDONLY | O_DIRECTORY);
      } catch (error) {
        if (isLinkError(error) || (isErrnoError(error) && error.code === "ENOENT")) continue; // a link or gone by now: not entered
        throw error;
      }
      const child = hold(fd);
      try {
        await walkFolder(child, `${path}/${name}`);
      } finally {
        child.finished = true;
        release(child);
      }
    }
  };
  try {
    const top = hold(openFolder(root));
    await add({ path: root, handle: `${pathInFolder(top.fd)}/.`, stat: fstatSync(top.fd) }, top);
    await walkFolder(top, root);
    top.finished = true;
    await drain();
  } finally {
    for (const folder of open) closeSync(folder.fd);
  }
}

/** How often a folder that keeps filling up (a sandbox writing into it meanwhile) is emptied again. */
const REMOVE_ATTEMPTS = 20;

/**
 * Removes `name` in the folder `trusted` and, if it is a folder, everything in it, while a
 * sandbox may still be writing there (a deployment's /workspace replaced under a running
 * sandbox): every folder is entered through its parent's open descriptor with O_NOFOLLOW, so a
 * folder swapped for a link meanwhile is unlinked as a link, never followed (Node's rmSync lists
 * a folder by its path after checking it, which a swap in between turns into the link's target).
 */
export function removeTree(trusted: string, name: string): void {
  withFolder(trusted, "", (folder) => removeIn(folder, checkName(name)));
}

function removeIn(folder: number, name: string): void {
  const handle = pathInFolder(folder, name);
  for (let attempt = 0; attempt < REMOVE_ATTEMPTS; attempt++) {
    let child: number;
    try {
      child = openIn(folder, name, O_RDONLY | O_DIRECTORY);
    } catch (error) {
      if (isErrnoError(error) && error.code === "ENOENT") return;
      if (!isLinkError(error)) throw error;
      try {
        unlinkSync(handle); // a file or a link: the entry itself goes
        return;
      } catch (unlinkError) {
        if (isErrnoError(unlinkError) && unlinkError.code === "ENOENT") return;
        if (isErrnoError(unlinkError) && unlinkError.code === "EISDIR") continue; // became a folder meanwhile
        throw unlinkError;
      }
    }
    try {
      for (const entry of readdirSync(pathInFolder(child))) removeIn(child, entry);
    } finally {
      closeSync(child);
    }
    try {
      rmdirSync(handle);
      return;
    } catch (error) {
      if (isErrnoError(error) && error.code === "ENOENT") return;
      if (!(isErrnoError(error) && (error.code === "ENOTEMPTY" || error.code === "EEXIST" || error.code === "ENOTDIR"))) throw error;
      // filled again, or swapped for another entry meanwhile: go round again
    }
  }
  throw new OperationFailedError(`could not remove ${name}: something kept writing into it`);
}
