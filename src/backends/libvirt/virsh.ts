// Talking to libvirt through virsh: one-shot commands, and the long-lived interactive session
// that creates a domain with --autodestroy, which ties the VM's life to that virsh process
// (and so to the owner that holds its stdin: if the owner dies, the pipe closes, virsh quits
// and libvirt destroys the domain).
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { homedir } from "node:os";
import { join } from "node:path";
import { handleFd } from "../../shared/handle-fd.js";
import { OperationFailedError } from "../../shared/errors.js";
import { run, type RunResult } from "../../shared/run.js";

/**
 * HEYVM_LIBVIRT_URI, else qemu:///system for root and qemu:///session for anyone else: a regular
 * user's VMs are its own (libvirt starts a session daemon as that user), and the system daemon
 * would need polkit or the libvirt group to let the user in.
 */
export function libvirtUri(): string {
  return process.env.HEYVM_LIBVIRT_URI || (process.getuid?.() === 0 ? "qemu:///system" : "qemu:///session");
}

/** True for the system daemon's URI (`qemu:///system`, also with a transport or `?socket=…`). */
export function isSystemUri(uri = libvirtUri()): boolean {
  try {
    return new URL(uri).pathname === "/system";
  } catch {
    return false;
  }
}

/** Where libvirt's QEMU driver keeps a running domain's pid file for this connection. */
export function qemuRunDir(): string {
  if (isSystemUri()) return "/run/libvirt/qemu";
  const runtime = process.env.XDG_RUNTIME_DIR;
  return runtime ? join(runtime, "libvirt", "qemu", "run") : join(homedir(), ".cache", "libvirt", "qemu", "run");
}

/** Quotes one argument for virsh's own command-line parser (interactive mode). */
export function virshQuote(word: string): string {
  return `'${word.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

export function domainName(sandboxId: string): string {
  return `heyvm-${sandboxId}`;
}

export function virsh(args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
  return run("virsh", ["-q", "-c", libvirtUri(), ...args], { allowFailure: true, timeout: timeoutMs, env: { ...process.env, LC_ALL: "C" } });
}

/** An interactive virsh kept open for the life of one domain. */
export class VirshSession {
  private readonly child: ChildProcessWithoutNullStreams;
  private output = "";
  readonly exited: Promise<number | null>;

  constructor() {
    this.child = spawn("virsh", ["-c", libvirtUri()], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, LC_ALL: "C" } });
    this.child.stdout.setEncoding("utf8").on("data", (chunk: string) => (this.output += chunk));
    this.child.stderr.setEncoding("utf8").on("data", (chunk: string) => (this.output += chunk));
    this.child.stdin.on("error", () => undefined);
    this.exited = new Promise((resolve) => {
      this.child.on("exit", (code) => resolve(code));
      this.child.on("error", () => resolve(null));
    });
  }

  /** Sends a command and waits until the output matches `done` (or an error line appears). */
  async command(line: string, done: RegExp, timeoutMs: number): Promise<string> {
    const start = this.output.length;
    this.child.stdin.write(`${line}\n`);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const fresh = this.output.slice(start);
      if (done.test(fresh)) return fresh;
      const error = /error: (.+)/.exec(fresh);
      if (error) {
        await new Promise((resolve) => setTimeout(resolve, 100)); // let the rest of the message arrive
        const message = this.output.slice(start).split("\n").filter((l) => l.startsWith("error:")).map((l) => l.slice(7)).join(" ");
        throw new OperationFailedError(`libvirt refused \`${line.split(" ")[0]}\`: ${message || error[1]}`);
      }
      if (this.child.exitCode !== null) throw new OperationFailedError(`virsh exited while running \`${line}\`: ${fresh.trim()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new OperationFailedError(`virsh did not finish \`${line}\` in ${timeoutMs / 1000} s`);
  }

  /** Fire-and-forget command (shutdown, destroy): the caller watches the domain itself. */
  send(line: string): void {
    if (this.child.exitCode === null) this.child.stdin.write(`${line}\n`);
  }

  /** virsh's pid and pipes, for the owner's native monitor to keep (stdin open: the domain lives). */
  handover(): { pid: number; stdin: number; output: number[] } {
    if (this.child.exitCode !== null || this.child.signalCode !== null) throw new OperationFailedError("virsh has already exited");
    const stdin = handleFd(this.child.stdin);
    const output = [handleFd(this.child.stdout), handleFd(this.child.stderr)].filter((fd) => fd !== undefined);
    if (this.child.pid === undefined || stdin === undefined || output.length !== 2) throw new OperationFailedError("virsh's pipes are not available for the owner monitor");
    return { pid: this.child.pid, stdin, output };
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null) this.child.stdin.end("quit\n");
    await Promise.race([this.exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}
