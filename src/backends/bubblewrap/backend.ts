// The bubblewrap backend: Linux namespaces, no VM. The owner is bwrap's parent and bwrap runs
// with --die-with-parent, so nothing in the sandbox outlives the owner. Shell and exec join the
// sandbox's namespaces with nsenter (≈7 ms), unprivileged as heyo inside.
import { spawn } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { OperationFailedError, UnavailableError, UserError } from "../../shared/errors.js";
import { num } from "../../shared/json.js";
import { findSystemExecutable } from "../../shared/run.js";
import { handleFd } from "../../shared/handle-fd.js";
import { processStartTime } from "../../state/liveness.js";
import { imageDir, readManifest } from "../../images/store.js";
import type { HeyoHome } from "../../state/home.js";
import type { Availability, Backend, BootContext, CommandOptions, GracefulStopper, HostEndpoint, ImagePreparer, MachineAccess, PortReacher, RunningMachine, SpawnSpec } from "../types.js";
import { CD_AND_EXEC, LOGIN_SHELL, enterWords, guestEnvironment } from "../guest-env.js";
import { SANDBOX_HOME, WORKSPACE, bwrapArgs, sandboxAccounts } from "./args.js";

const READY_MARK = "HEYVM_READY";
const INSTALL_HINT = "install it with `apt-get install bubblewrap` (Debian/Ubuntu) or `dnf install bubblewrap`, or point HEYVM_BWRAP at a bwrap binary";

/** The bwrap to use: $HEYVM_BWRAP (e.g. a setuid build elsewhere) or the one on PATH. */
function bwrapPath(): string | undefined {
  const override = process.env.HEYVM_BWRAP;
  return override ? findSystemExecutable(override) : findSystemExecutable("bwrap");
}

function imageRoot(home: HeyoHome, image: string | null): string | null {
  if (image === null) return null;
  const dir = imageDir(home, "bubblewrap", image);
  const manifest = readManifest(dir);
  const root = join(dir, manifest?.files.rootfs ?? "rootfs");
  if (!existsSync(join(root, "bin", "sh")) && !existsSync(join(root, "usr", "bin", "sh"))) {
    throw new UserError(`image "${image}" for bubblewrap not found (or has no /bin/sh) at ${root}`, {
      hint: "run `heyvm images list` to see the images you have, or leave out --image to use the host's system read-only",
    });
  }
  return root;
}

/**
 * An image exported from an engine has empty /etc/resolv.conf and /etc/hosts (the engine fills
 * them at run time): with network on, the host's are used, as a container runtime would.
 */
function resolverFiles(root: string): string[] {
  return ["/etc/resolv.conf", "/etc/hosts"].filter((file) => {
    try {
      return statSync(file).isFile() && lstatSync(join(root, file)).isFile() && statSync(join(root, file)).size === 0;
    } catch {
      return false;
    }
  });
}

/** Every process in the sandbox's pid namespace, found from the host's /proc. */
function namespaceMembers(initPid: number): number[] {
  let namespace: string;
  try {
    namespace = readlinkSync(`/proc/${initPid}/ns/pid`);
  } catch {
    return [];
  }
  const members: number[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === initPid) continue;
    try {
      if (readlinkSync(`/proc/${pid}/ns/pid`) === namespace) members.push(pid);
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  return members;
}

/** The sandbox's keeper process: the first child of its pid 1. */
function keeperPid(initPid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${initPid}/task/${initPid}/children`, "utf8").trim().split(/\s+/).map(Number);
    return children[0];
  } catch {
    return undefined;
  }
}

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Asks every process in the sandbox to end (SIGTERM) and waits up to graceMs for them. The keeper
 * (pid 2 inside) is spared: when it ends, pid 1 exits and the kernel kills the whole namespace at
 * once, so the others would get no time to finish. The caller then kills bwrap.
 */
async function shutDownNamespace(initPid: number, keeper: number | undefined, graceMs: number): Promise<void> {
  const others = () => namespaceMembers(initPid).filter((pid) => pid !== keeper && processStartTime(pid) !== null);
  signalAll(others(), "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && others().length > 0) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function readInfo(stream: NodeJS.ReadableStream): Promise<{ initPid: number }> {
  return new Promise((resolve, reject) => {
    let text = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      text += chunk;
      const match = /"child-pid"\s*:\s*(\d+)/.exec(text);
      if (match) resolve({ initPid: Number(match[1]) });
    });
    stream.on("end", () => reject(new OperationFailedError("bwrap exited before the sandbox was set up")));
    stream.on("error", reject);
  });
}

async function boot(context: BootContext): Promise<RunningMachine> {
  const { dir, spec, reporter } = context;
  const bwrap = bwrapPath();
  if (!bwrap) throw new UnavailableError("bwrap is not installed", INSTALL_HINT);
  const root = imageRoot(context.home, spec.image);
  mkdirSync(dir.homePath, { recursive: true });
  const etcDir = join(dir.root, "etc");
  mkdirSync(etcDir, { recursive: true });
  const shell = existsSync(join(root ?? "/", "bin", "bash")) ? "/bin/bash" : "/bin/sh";
  const accounts = sandboxAccounts(
    readFileSync(join(root ?? "/", "etc", "passwd"), "utf8"),
    readFileSync(join(root ?? "/", "etc", "group"), "utf8"),
    shell,
  );
  writeFileSync(join(etcDir, "passwd"), accounts.passwd);
  writeFileSync(join(etcDir, "group"), accounts.group);
  const args = bwrapArgs(spec, { imageRoot: root, homeDir: dir.homePath, passwdFile: join(etcDir, "passwd"), groupFile: join(etcDir, "group"), hostFiles: root && spec.network ? resolverFiles(root) : [] });
  // The command itself says when bwrap has finished setting up (info-fd comes earlier).
  args.push("--info-fd", "3", "--", "/bin/sh", "-c", `echo ${READY_MARK}; exec sleep 2147483647`);
  reporter.info(`starting bwrap ${args.join(" ")}`);
  // bwrap passes its environment to the sandbox: only the fixed guest environment, no host secrets
  const child = spawn(bwrap, args, { stdio: ["ignore", "pipe", "pipe", "pipe"], env: guestEnvironment(spec, SANDBOX_HOME) });
  let markSeen: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markSeen = resolve));
  let output = "";
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding("utf8");
    stream?.on("data", (chunk: string) => {
      context.console(chunk);
      output += chunk;
      if (output.includes(READY_MARK)) markSeen();
    });
  }
  const exited = new Promise<string>((resolve) => {
    child.on("exit", (code, signal) => resolve(signal ? `bwrap was ended by ${signal}` : `bwrap exited with code ${code}`));
  });
  const info = child.stdio[3];
  if (!info) throw new OperationFailedError("bwrap info pipe missing");
  const spawnError = new Promise<never>((_, reject) => child.on("error", reject));
  const early = exited.then((reason) => Promise.reject(new OperationFailedError(`the sandbox did not start: ${reason}`)));
  const { initPid } = await Promise.race([readInfo(info as NodeJS.ReadableStream), early, spawnError]);
  await Promise.race([ready, early, spawnError]);
  const initStartTime = processStartTime(initPid);
  const keeper = keeperPid(initPid); // right after readiness it is pid 1's only child
  reporter.info(`sandbox init is pid ${initPid}`);
  return {
    info: { guestIp: null, ssh: null, machine: { initPid, initStartTime, keeperPid: keeper ?? null } },
    exited,
    async stop(graceMs: number) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await shutDownNamespace(initPid, keeper, graceMs);
      child.kill("SIGKILL"); // the inner init dies with its parent, and the pid namespace with it
      await exited;
    },
    handover() {
      if (child.exitCode !== null || child.signalCode !== null) throw new OperationFailedError("bwrap has already exited");
      const consoleFds = [child.stdout, child.stderr].map(handleFd).filter((fd) => fd !== undefined);
      if (child.pid === undefined || consoleFds.length !== 2) throw new OperationFailedError("bwrap's pipes are not available for the owner monitor");
      return { child: { pid: child.pid, name: "bwrap" }, keepFds: [], consoleFds, drainFds: [], watch: null, follow: null };
    },
  };
}

/** The graceful part of a stop, from what owner.json records (the monitor then kills bwrap). */
async function shutDownGracefully(access: MachineAccess, graceMs: number): Promise<void> {
  const initPid = num(access.owner.machine, "initPid");
  if (initPid === undefined || processStartTime(initPid) !== access.owner.machine.initStartTime) return; // already gone
  await shutDownNamespace(initPid, num(access.owner.machine, "keeperPid"), graceMs);
}

function enterArgs(access: MachineAccess): { nsenter: string; args: string[] } {
  const initPid = num(access.owner.machine, "initPid");
  const recordedStart = access.owner.machine.initStartTime;
  if (initPid === undefined || (typeof recordedStart === "string" && processStartTime(initPid) !== recordedStart)) {
    throw new OperationFailedError(`sandbox ${access.spec.id} has no running init process`, `see \`heyvm logs ${access.spec.id}\`; restart it with \`heyvm stop\` and \`heyvm wt --detach\``);
  }
  const nsenter = findSystemExecutable("nsenter");
  if (!nsenter) throw new UnavailableError("nsenter is not installed", "install util-linux");
  const args = ["--target", String(initPid), "--user", "--mount", "--pid", "--uts", "--ipc", "--preserve-credentials"];
  if (!access.spec.network) args.push("--net");
  return { nsenter, args };
}

function commandIn(access: MachineAccess, script: string, argv: readonly string[], options: CommandOptions): SpawnSpec {
  const { nsenter, args } = enterArgs(access);
  return {
    file: nsenter,
    args: [...args, "--", "/bin/sh", "-c", script, "heyvm", ...enterWords(options.cwd ?? WORKSPACE, options.env), ...argv],
    // nsenter runs on the host first: it gets the fixed guest environment, never the caller's
    env: guestEnvironment(access.spec, SANDBOX_HOME),
  };
}

/** With network the sandbox shares the host's network namespace, so its ports are the host's own. */
function portEndpoint(access: MachineAccess, guestPort: number): HostEndpoint | undefined {
  return access.spec.network ? { host: "127.0.0.1", port: guestPort } : undefined;
}

async function probe(): Promise<Availability> {
  if (process.platform !== "linux") return { usable: false, reason: "bubblewrap needs Linux", hint: "use apple_virt on macOS" };
  if (!bwrapPath()) return { usable: false, reason: `bwrap is not installed${process.env.HEYVM_BWRAP ? ` at ${process.env.HEYVM_BWRAP}` : ""}`, hint: INSTALL_HINT };
  if (!findSystemExecutable("nsenter")) return { usable: false, reason: "nsenter is not installed", hint: "install util-linux" };
  return { usable: true, notes: [] };
}

export const bubblewrapBackend: Backend & ImagePreparer & GracefulStopper & PortReacher = {
  name: "bubblewrap",
  features: { virtualMachine: false, images: true, networkIsolation: true },
  probe,
  boot,
  shellCommand: (access, options) => commandIn(access, LOGIN_SHELL, [], options),
  execCommand: (access, argv, options) => commandIn(access, CD_AND_EXEC, argv, options),
  shutDownGracefully,
  portEndpoint,
  async prepareImage(home, image) {
    imageRoot(home, image);
  },
};
