// Builds the bwrap command line for a sandbox: the host's (or an image's) system read-only,
// private /proc, /dev and /tmp, a writable home, the worktree read-write at /workspace, and its
// own network namespace unless it shares the host's (--network host).
import { lstatSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { findSystemExecutable } from "../../shared/run.js";
import { networkMode, type SandboxSpec } from "../../state/records.js";

/**
 * The bwrap heyvm runs, for sandboxes and for every confinement of its own (the firecracker
 * sftp-server, git over a sandbox's store, the server's image check): $HEYVM_BWRAP (e.g. a
 * setuid build elsewhere) or the one on PATH.
 */
export function bwrapBinary(): string | undefined {
  const override = process.env.HEYVM_BWRAP;
  return override ? findSystemExecutable(override) : findSystemExecutable("bwrap");
}

/** Inside every bubblewrap sandbox the user is heyo, uid/gid 1000 (on the host: see host-user.ts). */
export const SANDBOX_UID = 1000;
export const SANDBOX_GID = 1000;
export const SANDBOX_HOME = "/home/heyo";
export const WORKSPACE = "/workspace";

export interface BwrapLayout {
  /** /tmp's size: a tmpfs whose pages count against the sandbox's memory (sandbox-limits.ts). */
  tmpSizeBytes?: number;
  /** Root filesystem of an image, or null for the host's own /usr, /etc… */
  imageRoot: string | null;
  homeDir: string;
  passwdFile: string;
  groupFile: string;
  /** A resolv.conf made for the sandbox, and where inside it goes (see network.ts). */
  resolvConf?: { file: string; path: string };
  /** Host files bound read-only at the same path over an image's empty ones (hosts; resolv.conf when none is made). */
  hostFiles?: string[];
}

const TOP_LEVEL_SYSTEM = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/** Folders bwrap makes itself (or heyvm binds); an image's own copies of them are not used. */
const PROVIDED = new Set(["proc", "dev", "tmp", "sys", "run", "home", "workspace"]);

/** Each top-level entry of an image read-only on bwrap's own root, so /proc etc. can be made. */
function imageArgs(imageRoot: string): string[] {
  const args: string[] = [];
  for (const name of readdirSync(imageRoot)) {
    if (PROVIDED.has(name)) continue;
    const path = join(imageRoot, name);
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) args.push("--symlink", readlinkSync(path), `/${name}`);
    else args.push("--ro-bind", path, `/${name}`);
  }
  return args;
}

function hostSystemArgs(): string[] {
  return ["--ro-bind", "/etc", "/etc", ...hostProgramArgs()];
}

/** The host's /usr read-only with /bin, /lib… as they are (links or folders): enough to run its programs. */
export function hostProgramArgs(): string[] {
  const args = ["--ro-bind", "/usr", "/usr"];
  for (const path of TOP_LEVEL_SYSTEM) {
    try {
      const stat = lstatSync(path);
      if (stat.isSymbolicLink()) args.push("--symlink", readlinkSync(path), path);
      else if (stat.isDirectory()) args.push("--ro-bind", path, path);
    } catch {
      // not on this host (lib32, libx32…)
    }
  }
  return args;
}

export function bwrapArgs(spec: SandboxSpec, layout: BwrapLayout): string[] {
  const args = [
    "--die-with-parent",
    "--unshare-user",
    "--uid", String(SANDBOX_UID),
    "--gid", String(SANDBOX_GID),
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--hostname", spec.name,
  ];
  // outbound: pasta connects this namespace to the outside; none: it stays with its loopback only
  if (networkMode(spec) !== "host") args.push("--unshare-net");
  args.push(...(layout.imageRoot ? imageArgs(layout.imageRoot) : hostSystemArgs()));
  args.push(
    "--ro-bind", layout.passwdFile, "/etc/passwd",
    "--ro-bind", layout.groupFile, "/etc/group",
    ...(layout.resolvConf ? ["--ro-bind", layout.resolvConf.file, layout.resolvConf.path] : []),
    ...(layout.hostFiles ?? []).flatMap((file) => ["--ro-bind", file, file]),
    "--proc", "/proc",
    "--dev", "/dev",
    ...(layout.tmpSizeBytes ? ["--size", String(layout.tmpSizeBytes)] : []),
    "--tmpfs", "/tmp",
    "--bind", layout.homeDir, SANDBOX_HOME,
    "--bind", spec.workspace, WORKSPACE,
  );
  for (const mount of spec.mounts) args.push(mount.readOnly ? "--ro-bind" : "--bind", mount.host, mount.guest);
  args.push("--remount-ro", "/", "--chdir", WORKSPACE);
  return args;
}

/** passwd/group for inside: the system's entries, with heyo owning uid/gid 1000. */
export function sandboxAccounts(hostPasswd: string, hostGroup: string, shell: string): { passwd: string; group: string } {
  const keep = (text: string, idField: number) =>
    text
      .split("\n")
      .filter((line) => line && !line.startsWith("heyo:") && line.split(":")[idField] !== String(SANDBOX_UID));
  const passwd = [...keep(hostPasswd, 2), `heyo:x:${SANDBOX_UID}:${SANDBOX_GID}:heyo:${SANDBOX_HOME}:${shell}`].join("\n");
  const group = [...keep(hostGroup, 2), `heyo:x:${SANDBOX_GID}:`].join("\n");
  return { passwd: `${passwd}\n`, group: `${group}\n` };
}
