// heyvm's own virtiofsd for each share of a VM sandbox, which the domain reaches by its socket
// (libvirt's "externally launched virtiofsd"): libvirt would start it as root, and the guest's
// root would then be root on the host's folder. QEMU 7.2's C virtiofsd cannot translate ids, so
// it runs in a user namespace of its own whose one id is the guest's heyo (guestIds, mapped to
// the sandbox's host user: its own unprivileged uid when heyvm is root, else the user), with its
// capabilities valid in that namespace only: what the guest's heyo writes belongs on the host to
// that host user, the guest's root (an id the namespace does not have) can create nothing, and no
// one in it can make a device node (that needs CAP_MKNOD in the host's namespace). It runs under
// heyvm's seccomp filter, so no setuid/setgid bit can be set through it either, and it is the
// owner's child with a parent-death signal, like passt (../user-net.ts). The /workspace share's
// virtiofsd runs under the name guard (../nameguard.ts): no `.git`/`HEAD` made through it.
import type { ChildProcess } from "node:child_process";
import { chownSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UnavailableError } from "../../shared/errors.js";
import { findSystemExecutable, run } from "../../shared/run.js";
import type { SandboxDir } from "../../state/sandbox-dir.js";
import type { HostUser } from "../host-ids.js";
import { guardedDaemon } from "../nameguard.js";
import { underSeccomp } from "../seccomp.js";
import { startUserNetHelper } from "../user-net.js";
import { qemuAccount } from "./access.js";
import { LIBVIRT_FILES } from "./machine.js";

const SOCKET_PATH_MAX = 100;
/** What virtiofsd prints once its socket listens. */
const READY_TEXT = "Waiting for vhost-user socket connection";
/**
 * virtiofsd takes a lock file under /run/virtiofsd, which only root may write: it gets a /run of
 * its own (a tmpfs in its own mount namespace). Then the share's binds, in that namespace only
 * (never seen by the host): `ro|rw host target` triples up to `--`. Every source is first bound
 * into /run as the host has it (a later bind may cover its path: the host's objects are inside
 * the `.git` the store is bound over), then onto its target, read-only ones remounted so, which
 * no request the guest can send undoes (FUSE has no mount call; a write answers EROFS, a rename
 * or unlink of the mount point EBUSY). The paths come as arguments, never in the script.
 */
const OWN_RUN = `mount -t tmpfs -o mode=0700 heyvm-virtiofsd /run || exit 1
k=0 n=0
for a do
  if [ $k = 0 ]; then [ "$a" = -- ] && break; k=1; continue; fi
  if [ $k = 2 ]; then k=0; continue; fi
  n=$((n + 1)) k=2 s=/run/heyvm-bind-$n
  if [ -d "$a" ]; then mkdir $s; else : > $s; fi
  mount --bind "$a" $s || exit 1
done
n=0
while [ "$1" != -- ]; do
  n=$((n + 1))
  if [ -L "$3" ]; then echo "heyvm: $3 is a symbolic link" >&2; exit 1; fi
  mount --bind /run/heyvm-bind-$n "$3" || exit 1
  if [ "$1" = ro ]; then mount -o remount,bind,ro "$3" || exit 1; fi
  shift 3
done
shift
exec "$@"`;

/** A folder or file bound into a share's folder, in its virtiofsd's own mount namespace. */
export interface ShareBind {
  host: string;
  /** Where in the share's folder (on the host's paths), bound over what is there. */
  target: string;
  readOnly: boolean;
}

export interface ShareDaemon {
  tag: string;
  socket: string;
  child: ChildProcess;
}

/** The folder for the sandbox's share sockets (short enough for a unix socket path). */
function socketDir(dir: SandboxDir): string {
  const usual = join(dir.root, LIBVIRT_FILES.shareDir);
  return join(usual, "gitdir.sock").length <= SOCKET_PATH_MAX ? usual : join(tmpdir(), `heyvm-fs-${dir.id}`);
}

/**
 * Starts one virtiofsd per share and resolves once every socket listens (before QEMU starts).
 * guestIds: heyo's uid/gid inside the guest; user: who those are on the host.
 */
export async function startShareDaemons(
  dir: SandboxDir,
  binary: string,
  shares: Array<{ source: string; tag: string; binds: ShareBind[]; nameguard: boolean }>,
  user: HostUser,
  guestIds: { uid: number; gid: number },
  signal: AbortSignal,
  entryStep: readonly string[] = [],
): Promise<ShareDaemon[]> {
  const unshare = findSystemExecutable("unshare");
  if (!unshare) throw new UnavailableError("unshare is not installed", "install util-linux");
  const folder = socketDir(dir);
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  if (user.dropsRoot) chownSync(folder, user.uid, user.gid);
  const daemons: ShareDaemon[] = [];
  try {
    for (const share of shares) {
      const socket = join(folder, `${share.tag}.sock`);
      const logPath = join(dir.root, `virtiofsd-${share.tag}.log`);
      rmSync(logPath, { force: true });
      const daemon = [
        binary, `--socket-path=${socket}`, "-o", `source=${share.source}`, "-o", "cache=auto", "-o", "sandbox=namespace",
        "-o", "xattr", "-o", "posix_acl", "--rlimit-nofile=0",
      ];
      // sandbox=namespace: virtiofsd pivots its root into the share, so the workspace is its root
      const argv = underSeccomp([
        unshare, "--user", `--map-user=${guestIds.uid}`, `--map-group=${guestIds.gid}`, "--keep-caps", "--mount", "--",
        "/bin/sh", "-c", OWN_RUN, "virtiofsd",
        ...share.binds.flatMap((bind) => [bind.readOnly ? "ro" : "rw", bind.host, bind.target]), "--",
        ...(share.nameguard ? guardedDaemon("/", daemon) : daemon),
      ]);
      const [executable = "", ...args] = argv;
      const child = await startUserNetHelper(
        { what: `the /workspace share (virtiofsd, ${share.tag})`, executable, args, pidFile: socket, readyText: READY_TEXT, logPath, entryStep, ...(user.dropsRoot ? { runAs: { uid: user.uid, gid: user.gid } } : {}) },
        signal,
      );
      daemons.push({ tag: share.tag, socket, child });
    }
    await letQemuConnect(daemons.map((daemon) => daemon.socket));
  } catch (error) {
    for (const daemon of daemons) daemon.child.kill("SIGKILL");
    throw error;
  }
  return daemons;
}

/** QEMU's own account (qemu:///system) may connect: search on the folder, read/write on each socket. */
async function letQemuConnect(sockets: string[]): Promise<void> {
  const account = qemuAccount();
  if (!account || sockets.length === 0) return;
  const setfacl = findSystemExecutable("setfacl");
  if (!setfacl) throw new UnavailableError(`QEMU runs as ${account.name} and cannot reach heyvm's virtiofsd sockets`, "install acl (`apt-get install acl`)");
  const folder = join(sockets[0] ?? "", "..");
  await run(setfacl, ["-m", `u:${account.name}:x`, "--", folder]);
  await run(setfacl, ["-P", "-m", `u:${account.name}:rw`, "--", ...sockets]);
}

