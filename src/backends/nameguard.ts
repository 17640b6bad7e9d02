// Wraps a sandbox's commands in heyvm's name guard (native/nameguard/, rules in
// seccomp-policy.ts): in the workspace no `.git` or `HEAD` can be made and nothing under a
// `.git` changed, so no repository the sandbox makes there is ever obeyed by the host's git.
// The supervisor runs outside the sandbox's pid namespace, in the namespace the wrapper starts in.
import { UnavailableError } from "../shared/errors.js";
import { nativeBinary } from "../shared/native-binary.js";

const HELPER = "heyvm-nameguard";
/** The descriptors `boot` hands bwrap for the installer inside: its socket to the supervisor, and the helper itself. */
const SOCKET_FD = 4;
const SELF_FD = 5;

export function nameguardHelper(): string | undefined {
  return nativeBinary(HELPER);
}

function requireHelper(): string {
  const helper = nameguardHelper();
  if (!helper) throw new UnavailableError(`${HELPER} is not built (it keeps git repositories out of sandboxes' workspaces)`, "run `npm run build` (it needs libseccomp-dev: `apt-get install libseccomp-dev`)");
  return helper;
}

/** argv that runs PROGRAM and all it starts under the guard, for WORKSPACE as PROGRAM's root has it. */
export function guardedRun(workspace: string, argv: readonly string[]): string[] {
  return [requireHelper(), "run", "--workspace", workspace, "--", ...argv];
}

/**
 * For a daemon serving the workspace that moves its own root into it first (virtiofsd's
 * sandbox=namespace pivot_root): the workspace is ROOT_PATH in its root of the moment, looked up
 * at each call, since the mount it is on changes with the move. Only for a daemon heyvm starts
 * (the hostile side talks to it), never for a sandbox's own programs.
 */
export function guardedDaemon(rootPath: string, argv: readonly string[]): string[] {
  return [requireHelper(), "run", "--follow-root", "--workspace", rootPath, "--", ...argv];
}

/**
 * For a bwrap that sets up the sandbox first: `wrapper` goes before bwrap (it starts the
 * supervisor and hands bwrap two descriptors), `command` prefixes bwrap's own command (it
 * installs the guard inside, once bwrap's mounts are made, and execs the command).
 */
export function guardedBwrap(workspace: string): { wrapper: string[]; command: string[] } {
  return {
    wrapper: [requireHelper(), "boot", "--workspace", workspace, "--socket-fd", String(SOCKET_FD), "--self-fd", String(SELF_FD), "--"],
    command: [`/proc/self/fd/${SELF_FD}`, "install", String(SOCKET_FD), String(SELF_FD), "--"],
  };
}

/**
 * guardedBwrap for a bwrap with no /proc (the firecracker sftp-server: its client may read any
 * path it sees): `binds` puts the static helper read-only at INSIDE, which `command` runs.
 */
export function guardedBwrapWithoutProc(workspace: string, inside: string): { wrapper: string[]; command: string[]; binds: string[] } {
  const { wrapper, command } = guardedBwrap(workspace);
  return { wrapper, command: [inside, ...command.slice(1)], binds: ["--ro-bind", requireHelper(), inside] };
}
