// The default network of a VM sandbox: passt (Debian's `passt` package), user-mode NAT like
// QEMU's own, but told never to map the gateway onto the host (--no-map-gw): with QEMU's user
// networking, 10.0.2.2 is the host's 127.0.0.1, so every guest reaches every service bound to
// the host's loopback. The guest keeps the addresses it has always had (10.0.2.15/24, gateway
// 10.0.2.2, DNS 10.0.2.3, forwarded to the host's resolver); SSH and exposed ports come in from
// 127.0.0.1 only. QEMU (7.2 or later) connects to passt's unix socket (`-netdev stream`); libvirt
// 9.0's own passt backend is not usable, so heyvm runs passt itself, as the user QEMU runs as,
// as the owner's child with a parent-death signal, and quitting when QEMU lets go (--one-off).
import type { ChildProcess } from "node:child_process";
import { chownSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UnavailableError } from "../../shared/errors.js";
import { findSystemExecutable } from "../../shared/run.js";
import type { SandboxDir } from "../../state/sandbox-dir.js";
import { PASST_PACKAGE_HINT, startUserNetHelper } from "../user-net.js";
import { qemuAccount } from "./access.js";
import { LIBVIRT_FILES } from "./machine.js";

/** The guest's static addresses (images/vm/guest-files.ts), kept as QEMU's user network had them. */
const GUEST_ADDRESS = "10.0.2.15";
const GATEWAY = "10.0.2.2";
const GUEST_DNS = "10.0.2.3";
/** Who passt runs as when heyvm is root and QEMU is root too: never root itself. */
const NOBODY = 65534;

export interface GuestForward {
  host: number;
  guest: number;
}

export interface PasstFiles {
  dir: string;
  socket: string;
  pidFile: string;
  log: string;
}

/** sun_path holds 108 bytes: a socket under a deep HEYO_HOME goes to a short folder in /tmp. */
const SOCKET_PATH_MAX = 100;

export function passtFiles(dir: SandboxDir): PasstFiles {
  const usual = join(dir.root, LIBVIRT_FILES.netDir);
  const net = join(usual, LIBVIRT_FILES.passtSocket).length <= SOCKET_PATH_MAX ? usual : join(tmpdir(), `heyvm-net-${dir.id}`);
  return { dir: net, socket: join(net, LIBVIRT_FILES.passtSocket), pidFile: join(net, LIBVIRT_FILES.passtPid), log: join(dir.root, LIBVIRT_FILES.passtLog) };
}

export function passtArgs(files: PasstFiles, forwards: readonly GuestForward[]): string[] {
  return [
    "--foreground", "--quiet", "--one-off",
    "--socket", files.socket,
    "--pid", files.pidFile,
    "--address", GUEST_ADDRESS, "--netmask", "24", "--gateway", GATEWAY,
    "--dns-forward", GUEST_DNS,
    "--no-map-gw",
    "--udp-ports", "none",
    // one option per port: passt before 2023-08 refuses a comma-joined list of address/port specs
    ...(forwards.length === 0 ? ["--tcp-ports", "none"] : forwards.flatMap((f) => ["--tcp-ports", `127.0.0.1/${f.host}:${f.guest}`])),
  ];
}

/** Who passt runs as: the account QEMU runs as (it must connect), never root. */
function passtUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined; // as whoever runs heyvm, like QEMU in session mode
  return qemuAccount() ?? { uid: NOBODY, gid: NOBODY };
}

/** A fresh folder for passt's socket and pid file, owned by the user passt runs as. */
export function preparePasstFiles(dir: SandboxDir): PasstFiles {
  const files = passtFiles(dir);
  rmSync(files.dir, { recursive: true, force: true });
  mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  const user = passtUser();
  if (user) chownSync(files.dir, user.uid, user.gid);
  return files;
}

/** Starts passt for a VM and resolves once its socket listens (before QEMU starts). */
export async function startPasst(files: PasstFiles, forwards: readonly GuestForward[], signal: AbortSignal, entryStep: readonly string[] = []): Promise<ChildProcess> {
  const passt = findSystemExecutable("passt");
  if (!passt) throw new UnavailableError("passt is not installed (the default network of VM sandboxes: outbound only)", PASST_PACKAGE_HINT);
  return startUserNetHelper({ what: "the VM's network (passt)", executable: passt, args: passtArgs(files, forwards), pidFile: files.pidFile, logPath: files.log, runAs: passtUser(), entryStep }, signal);
}
