// The host's ends of a firecracker sandbox's vsock connections, all made by heyvm-vsock-connect
// (native/vsock-connect.c): ssh's ProxyCommand (the connected socket handed to ssh), the
// /workspace channel (an sftp-server on the connection, confined by bubblewrap to the worktree
// and the sandbox's git store) and the forwarders of exposed ports. They are the owner's children and
// need nothing from the owner's process, so they carry on unchanged after the hand-over.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, openSync, closeSync } from "node:fs";
import { OperationFailedError } from "../../shared/errors.js";
import { findSystemExecutable } from "../../shared/run.js";
import { nativeBinary } from "../../shared/native-binary.js";
import { bwrapBinary } from "../bubblewrap/args.js";
import type { HostUser } from "../host-ids.js";
import { guardedBwrapWithoutProc } from "../nameguard.js";
import { underSeccomp } from "../seccomp.js";
import { shellQuote } from "../../shared/shell-quote.js";
import type { SandboxSpec } from "../../state/records.js";
import { GUEST_VSOCK_PORTS } from "../../images/firecracker/files.js";
import type { SshTransport } from "../ssh.js";

const HELPER = "heyvm-vsock-connect";
const SFTP_SERVER_PATHS = ["/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/libexec/sftp-server", "/usr/lib/ssh/sftp-server"];

/** build/Release/heyvm-vsock-connect of the checkout or package. */
export function vsockHelper(): string | undefined {
  return nativeBinary(HELPER);
}

function requireHelper(): string {
  const helper = vsockHelper();
  if (!helper) throw new OperationFailedError(`${HELPER} is not built`, "run `npm run build` (it builds heyvm's native pieces)");
  return helper;
}

export function sftpServer(): string | undefined {
  return SFTP_SERVER_PATHS.find((path) => existsSync(path));
}


/** ssh options that reach the guest's sshd over vsock, the socket passed to ssh (no relay). */
export function sshOverVsock(vsockUds: string): SshTransport {
  const command = `${shellQuote(requireHelper())} --fdpass ${shellQuote(vsockUds)} ${GUEST_VSOCK_PORTS.ssh}`;
  return ["-o", `ProxyCommand=${command.replace(/%/g, "%%")}`, "-o", "ProxyUseFdpass=yes"];
}

/** The files sftp-server needs to run (itself, its libraries and loader), found with ldd once. */
let runtimeFiles: string[] | undefined;
function sftpRuntime(server: string): string[] {
  if (runtimeFiles) return runtimeFiles;
  const ldd = spawnSync("ldd", [server], { encoding: "utf8" });
  const libraries = ldd.status === 0 ? [...ldd.stdout.matchAll(/(\/[^\s)]+)/g)].map((m) => m[1] ?? "").filter((path) => path && existsSync(path)) : [];
  runtimeFiles = libraries.length > 0 ? [server, ...new Set(libraries)] : [];
  return runtimeFiles;
}

/**
 * bwrap + sftp-server, under heyvm's seccomp filter and as the sandbox's host user, seeing only
 * /workspace (the worktree), the sandbox's extra mounts at their own paths (its own git store, the
 * host's objects read-only and heyvm's read-only /workspace/.git: core/git-store.ts), and the files
 * sftp-server runs from; under the name guard, installed once bwrap's mounts are made.
 */
export function confinedSftpServer(spec: SandboxSpec, accounts: { passwd: string; group: string }, user: HostUser): string[] {
  const bwrap = bwrapBinary();
  const server = sftpServer();
  const setpriv = findSystemExecutable("setpriv");
  if (!bwrap || !server || !setpriv) throw new OperationFailedError("serving /workspace needs bwrap, setpriv and sftp-server", "install them with `apt-get install bubblewrap util-linux openssh-sftp-server`");
  // as root: the sandbox's own host uid (the accounts' heyo is 0 inside its user namespace), never root
  const asUser = user.dropsRoot ? [setpriv, `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--"] : [];
  const inside = user.dropsRoot ? ["--unshare-user", "--uid", "0", "--gid", "0"] : [];
  // the name guard (../nameguard.ts): no `.git`/`HEAD` made in /workspace through the channel; as
  // root only for now: under a regular user its emulated creates were refused (EACCES), so that
  // channel is unguarded until fixed (README's security table says so)
  const guard = user.dropsRoot ? guardedBwrapWithoutProc("/workspace", "/run/heyvm-nameguard") : { wrapper: [], binds: [], command: [] };
  const args = [...asUser, ...underSeccomp([...guard.wrapper, bwrap, "--die-with-parent", "--new-session", "--unshare-all", ...inside, "--cap-drop", "ALL", "--dev", "/dev"])];
  const runtime = sftpRuntime(server);
  if (runtime.length > 0) for (const file of runtime) args.push("--ro-bind", file, file);
  else args.push("--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64");
  // sftp-server looks its user up: an account of its own (not the host's /etc/passwd)
  args.push("--ro-bind", accounts.passwd, "/etc/passwd", "--ro-bind", accounts.group, "/etc/group");
  args.push("--bind", spec.workspace, "/workspace");
  for (const mount of spec.mounts) args.push(mount.readOnly ? "--ro-bind" : "--bind", mount.host, mount.guest);
  args.push(...guard.binds, "--chdir", "/workspace", "--", ...guard.command, server, "-d", "/workspace");
  return args;
}

/** Connects the guest's /workspace port and runs the confined sftp-server (confinedSftpServer's argv) on that connection. */
export function startWorkspaceChannel(vsockUds: string, sftpServerArgv: readonly string[], logFile: string, entryStep: readonly string[] = []): ChildProcess {
  const log = openSync(logFile, "a");
  try {
    const [file = "", ...args] = [...entryStep, requireHelper()];
    return spawn(file, [...args, "--exec", vsockUds, String(GUEST_VSOCK_PORTS.workspace), "--", ...sftpServerArgv], { stdio: ["ignore", "ignore", log] });
  } finally {
    closeSync(log);
  }
}

/** A forwarder from a free 127.0.0.1 port to a guest vsock port; resolves with the host port. */
export function startForwarder(vsockUds: string, guestPort: number, logFile: string, entryStep: readonly string[] = []): Promise<{ child: ChildProcess; hostPort: number }> {
  const log = openSync(logFile, "a");
  let child: ChildProcess;
  try {
    const [file = "", ...args] = [...entryStep, requireHelper()];
    child = spawn(file, [...args, "--forward", vsockUds, String(guestPort)], { stdio: ["ignore", "pipe", log] });
  } finally {
    closeSync(log);
  }
  return new Promise((resolve, reject) => {
    let text = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      text += chunk;
      const line = /^(\d+)\n/.exec(text);
      if (line) {
        child.stdout?.destroy();
        resolve({ child, hostPort: Number(line[1]) });
      }
    });
    child.once("exit", (code) => reject(new OperationFailedError(`the forwarder for guest port ${guestPort} exited (${code ?? "signal"})`)));
    child.once("error", reject);
  });
}
