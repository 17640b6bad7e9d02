// Builds the bwrap command line for a sandbox: the host's (or an image's) system read-only,
// private /proc, /dev and /tmp, a writable home, the worktree read-write at /workspace, and its
// own network namespace unless it shares the host's (--network host).
import { lstatSync, readdirSync, readlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
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

/** Where the host's /etc is bound, read-only, inside a sandbox on the host's system. */
export const HOST_ETC = "/run/host/etc";

/**
 * The host's /etc without a mount on any of its names: a bind over a host file (heyvm's passwd
 * over /etc/passwd) is dropped by the kernel as soon as the host renames a new file over it
 * (any useradd), and the sandbox then reads the host's. So the host's /etc is bound whole at
 * HOST_ETC and /etc is a folder of bwrap's own root holding a link per entry (a host link is
 * copied as it is, since its target may be relative), apart from the names heyvm provides, whose
 * mount points are then in that folder, where the host cannot replace them.
 */
export function hostEtcArgs(provided: ReadonlySet<string>, etc = "/etc"): string[] {
  const args = ["--ro-bind", etc, HOST_ETC, "--dir", "/etc"];
  for (const name of readdirSync(etc).sort()) {
    if (provided.has(name)) continue;
    try {
      const stat = lstatSync(join(etc, name));
      args.push("--symlink", stat.isSymbolicLink() ? readlinkSync(join(etc, name)) : `${HOST_ETC}/${name}`, `/etc/${name}`);
    } catch {
      // removed meanwhile
    }
  }
  return args;
}

/** The names directly in /etc that a path inside the sandbox (`/etc/passwd`…) provides. */
function etcNames(paths: readonly string[]): Set<string> {
  return new Set(paths.filter((path) => dirname(path) === "/etc").map((path) => basename(path)));
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
  const provided = etcNames(["/etc/passwd", "/etc/group", ...(layout.resolvConf ? [layout.resolvConf.path] : [])]);
  args.push(...(layout.imageRoot ? imageArgs(layout.imageRoot) : [...hostEtcArgs(provided), ...hostProgramArgs()]));
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
