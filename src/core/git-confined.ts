// Git run over a sandbox's own git store, which the sandbox writes: never on the host as such.
// It runs in a bubblewrap confinement that sees only /usr, the store (read-only unless heyvm
// moves a ref in it) and the host's objects read-only, with no network and no capabilities,
// so the store's config, hooks and links can reach nothing of the host's; heyvm takes only
// bytes from it (an object id, a pack that the host's git then checks and names by hashing).
import { spawn, type ChildProcess } from "node:child_process";
import { bwrapBinary, hostProgramArgs } from "../backends/bubblewrap/args.js";
import { OperationFailedError, UnavailableError } from "../shared/errors.js";
import { run, type RunResult } from "../shared/run.js";
import { hardenedGitArgs } from "../git/safe-git.js";
import { GIT_STORE_IN_SANDBOX, HOST_OBJECTS_NAME } from "./git-store.js";

export interface ConfinedStore {
  /** The store on the host (sandboxes/<id>/git). */
  store: string;
  /** The host's `<common>/objects`, bound read-only where the store's alternates name it. */
  hostObjects: string;
  /** Who git runs as: the sandbox's own host user, who owns what the sandbox wrote in the store. */
  user: { uid: number; gid: number };
}

/** spawn's uid/gid: only when heyvm is root and the sandbox's user is another. */
function asUser(user: ConfinedStore["user"]): { uid?: number; gid?: number } {
  return process.getuid?.() === 0 && user.uid !== 0 ? { uid: user.uid, gid: user.gid } : {};
}

/** bwrap's argv for `git <args>` over the store; writable only when heyvm moves something in it. */
export function confinedGitArgv(where: ConfinedStore, writable: boolean, gitArgs: readonly string[]): string[] {
  const bwrap = bwrapBinary();
  if (!bwrap) throw new UnavailableError("bwrap is not installed (heyvm reads a sandbox's git store inside it)", "install it with `apt-get install bubblewrap`");
  return [
    bwrap,
    "--die-with-parent",
    "--new-session",
    "--unshare-all",
    "--cap-drop", "ALL",
    "--clearenv",
    "--setenv", "PATH", "/usr/bin:/bin",
    "--setenv", "HOME", "/nonexistent",
    "--setenv", "LC_ALL", "C",
    "--setenv", "GIT_CONFIG_NOSYSTEM", "1",
    "--setenv", "GIT_CONFIG_GLOBAL", "/dev/null",
    "--setenv", "GIT_DIR", GIT_STORE_IN_SANDBOX,
    ...hostProgramArgs(),
    "--dev", "/dev",
    writable ? "--bind" : "--ro-bind", where.store, GIT_STORE_IN_SANDBOX,
    "--ro-bind", where.hostObjects, `${GIT_STORE_IN_SANDBOX}/${HOST_OBJECTS_NAME}`,
    "--remount-ro", "/",
    "--chdir", GIT_STORE_IN_SANDBOX,
    "--", "git", ...hardenedGitArgs(gitArgs),
  ];
}

/** Runs git over the store, collecting its output. */
export function runConfinedGit(where: ConfinedStore, writable: boolean, gitArgs: readonly string[], input?: string): Promise<RunResult> {
  const [file, ...args] = confinedGitArgv(where, writable, gitArgs);
  if (!file) throw new OperationFailedError("no bwrap command");
  return run(file, args, { allowFailure: true, input, env: {}, timeout: 60_000, ...asUser(where.user) });
}

/** Starts git over the store (read-only) with its stdout a pipe: a pack streamed to the host's index-pack. */
export function spawnConfinedGit(where: ConfinedStore, gitArgs: readonly string[]): ChildProcess {
  const [file, ...args] = confinedGitArgv(where, false, gitArgs);
  if (!file) throw new OperationFailedError("no bwrap command");
  return spawn(file, args, { env: {}, stdio: ["pipe", "pipe", "pipe"], ...asUser(where.user) });
}
