// The bubblewrap backend: Linux namespaces, no VM. The owner is bwrap's parent and bwrap runs
// with --die-with-parent, so nothing in the sandbox outlives the owner. bwrap runs as root of an
// outer user namespace heyvm makes for it (`unshare --map-root-user`) owned by the sandbox's host
// user (host-user.ts: never root); shell and exec enter that namespace first, then, with its
// rights, the sandbox's own namespaces with nsenter, unprivileged as heyo inside. The default
// network is the sandbox's own namespace with pasta's outbound-only NAT (network.ts).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { OperationFailedError, UnavailableError, UserError } from "../../shared/errors.js";
import { num } from "../../shared/json.js";
import { findSystemExecutable } from "../../shared/run.js";
import { handleFd } from "../../shared/handle-fd.js";
import { processStartTime } from "../../state/liveness.js";
import { networkMode } from "../../state/records.js";
import { imageDir, readManifest } from "../../images/store.js";
import type { HeyoHome } from "../../state/home.js";
import { recordedForward } from "../forwards.js";
import type { Availability, Backend, BootContext, CommandOptions, GracefulStopper, HostEndpoint, ImagePreparer, MachineAccess, OrphanReaper, PortReacher, Reporter, RunningMachine, SpawnSpec } from "../types.js";
import { CD_AND_EXEC, LOGIN_SHELL, enterWords, guestEnvironment, guestEnvironmentRecipe } from "../guest-env.js";
import type { ExecRecipe, ProcessCheck } from "../exec-recipe.js";
import { SANDBOX_HOME, WORKSPACE, bwrapArgs, bwrapBinary, sandboxAccounts } from "./args.js";
import { grantSandboxAccess, sandboxHostUser } from "./host-user.js";
import { PASST_PACKAGE_HINT } from "../user-net.js";
import { seccompHelper, underSeccomp } from "../seccomp.js";
import { hostForwards, pastaPath, resolvConfPath, sandboxResolvConf, startPasta } from "./network.js";
import { applyLimits, releaseLimits } from "./limits.js";
import { describeLimits, sandboxLimits } from "../sandbox-limits.js";
import type { SandboxDir } from "../../state/sandbox-dir.js";
import { traceStep } from "../../shared/trace.js";

const READY_MARK = "HEYVM_READY";
const INSTALL_HINT = "install it with `apt-get install bubblewrap` (Debian/Ubuntu) or `dnf install bubblewrap`, or point HEYVM_BWRAP at a bwrap binary";


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

function requireTool(name: string): string {
  const path = findSystemExecutable(name);
  if (!path) throw new UnavailableError(`${name} is not installed`, "install util-linux");
  return path;
}

async function boot(context: BootContext): Promise<RunningMachine> {
  const { dir, spec, reporter } = context;
  const bwrap = bwrapBinary();
  if (!bwrap) throw new UnavailableError("bwrap is not installed", INSTALL_HINT);
  const unshare = requireTool("unshare");
  const mode = networkMode(spec);
  if (mode === "outbound" && !pastaPath()) throw new UnavailableError("pasta is not installed (the default network of bubblewrap sandboxes: outbound only)", PASST_PACKAGE_HINT);
  const user = await sandboxHostUser(dir);
  traceStep("bubblewrap: host user known");
  const root = imageRoot(context.home, spec.image);
  mkdirSync(dir.homePath, { recursive: true });
  const etcDir = join(dir.root, "etc");
  const runDir = join(dir.root, "run");
  mkdirSync(etcDir, { recursive: true });
  mkdirSync(runDir, { recursive: true });
  const shell = existsSync(join(root ?? "/", "bin", "bash")) ? "/bin/bash" : "/bin/sh";
  const accounts = sandboxAccounts(
    readFileSync(join(root ?? "/", "etc", "passwd"), "utf8"),
    readFileSync(join(root ?? "/", "etc", "group"), "utf8"),
    shell,
  );
  writeFileSync(join(etcDir, "passwd"), accounts.passwd);
  writeFileSync(join(etcDir, "group"), accounts.group);
  const resolvText = mode === "outbound" ? sandboxResolvConf() : undefined;
  const resolvPath = resolvText === undefined ? undefined : resolvConfPath(root ?? "/");
  if (resolvText !== undefined && resolvPath) writeFileSync(join(etcDir, "resolv.conf"), resolvText);
  const forwards = mode === "outbound" ? await hostForwards(spec.ports, spec.hostPorts) : [];
  const limits = sandboxLimits(spec);
  traceStep("bubblewrap: files written");
  const applied = await applyLimits(dir, limits, user);
  traceStep("bubblewrap: limits applied (cgroup, home)");
  reporter.info(`limits: ${describeLimits(limits)}; set: ${applied.set.join(", ")}`);
  if (applied.notSet.length > 0) reporter.info(`limits NOT set: ${applied.notSet.join("; ")}`);
  await grantSandboxAccess(
    user,
    {
      writable: [spec.workspace, ...spec.mounts.filter((m) => !m.readOnly).map((m) => m.host)],
      readable: [...spec.mounts.filter((m) => m.readOnly).map((m) => m.host), etcDir, ...(root ? [root] : [])],
      owned: [dir.homePath, runDir],
    },
    reporter,
  );
  traceStep("bubblewrap: access granted");
  const resolvConf = resolvText !== undefined && resolvPath ? { file: join(etcDir, "resolv.conf"), path: resolvPath } : undefined;
  const args = bwrapArgs(spec, {
    tmpSizeBytes: limits.tmpMiB * 1024 * 1024,
    imageRoot: root,
    homeDir: dir.homePath,
    passwdFile: join(etcDir, "passwd"),
    groupFile: join(etcDir, "group"),
    resolvConf: resolvConf,
    hostFiles: root && mode !== "none" ? resolverFiles(root).filter((file) => !(resolvConf && file === "/etc/resolv.conf")) : [],
  });
  // The command itself says when bwrap has finished setting up (info-fd comes earlier).
  args.push("--info-fd", "3", "--", "/bin/sh", "-c", `echo ${READY_MARK}; exec sleep 2147483647`);
  reporter.info(`starting bwrap ${args.join(" ")}`);
  if (user.dropsRoot) reporter.info(`heyvm runs as root: the sandbox runs as uid ${user.uid}, gid ${user.gid} on the host`);
  // The entry step joins the sandbox's cgroup as root; only then does setpriv drop to its user.
  const dropRoot = user.dropsRoot && applied.entryStep.length > 0 ? [requireTool("setpriv"), `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--"] : [];
  // bwrap passes its environment to the sandbox: only the fixed guest environment, no host secrets.
  // unshare makes the outer user namespace (the host user is root there) and execs bwrap in place.
  // under heyvm's seccomp filter (no setuid/setgid files, no devices: ../seccomp-policy.ts), after
  // the entry step (as root) and the drop to the sandbox's user
  const [file = "", ...command] = [...applied.entryStep, ...dropRoot, ...underSeccomp([unshare, "--user", "--map-root-user", "--", bwrap, ...args])];
  const child = spawn(file, command, {
    stdio: ["ignore", "pipe", "pipe", "pipe"],
    env: guestEnvironment(spec, SANDBOX_HOME),
    ...(user.dropsRoot && dropRoot.length === 0 ? { uid: user.uid, gid: user.gid } : {}),
  });
  traceStep("bubblewrap: bwrap spawned");
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
  let pasta: ChildProcess | undefined;
  let initPid: number;
  try {
    ({ initPid } = await Promise.race([readInfo(info as NodeJS.ReadableStream), early, spawnError]));
    traceStep("bubblewrap: namespaces made (info-fd)");
    // pasta attaches only once bwrap has finished setting the namespace up (the ready mark comes
    // after that; info-fd comes before bwrap's own loopback set-up, and pasta configuring the
    // namespace at the same moment made bwrap fail with "loopback: Failed RTM_NEWADDR")
    await Promise.race([ready, early, spawnError]);
    traceStep("bubblewrap: sandbox ready mark seen");
    const outerPid = child.pid;
    if (mode === "outbound" && outerPid !== undefined) {
      const starting = startPasta({ outerPid, initPid, forwards, runDir, logPath: join(dir.root, "pasta.log"), user }, context.signal);
      pasta = await Promise.race([starting, early, spawnError]);
      traceStep("bubblewrap: pasta ready");
      reporter.info(`network: own namespace, outbound only through pasta (pid ${pasta.pid})${forwards.length ? `; ${forwards.map((f) => `127.0.0.1:${f.host} -> port ${f.guest}`).join(", ")}` : ""}`);
    }
  } catch (error) {
    pasta?.kill("SIGKILL");
    child.kill("SIGKILL");
    await releaseLimits(dir).catch(() => undefined);
    throw error;
  }
  const initStartTime = processStartTime(initPid);
  const keeper = keeperPid(initPid); // right after readiness it is pid 1's only child
  reporter.info(`sandbox init is pid ${initPid}`);
  const outerPid = child.pid ?? null;
  return {
    info: {
      guestIp: null,
      ssh: null,
      machine: {
        initPid,
        initStartTime,
        keeperPid: keeper ?? null,
        // bwrap's first process: it holds the outer user namespace that shell and exec enter first
        outerPid,
        outerStartTime: outerPid === null ? null : processStartTime(outerPid),
        // guest port → the 127.0.0.1 port that reaches it, for whoever exposes it (the cloud's proxy)
        forwards: Object.fromEntries(forwards.map((f) => [String(f.guest), f.host])),
        // what shell and exec run first, so that they count against the sandbox's limits too
        entryStep: applied.entryStep,
        limits: { ...limits, set: applied.set, notSet: applied.notSet },
      },
    },
    exited,
    async stop(graceMs: number) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await shutDownNamespace(initPid, keeper, graceMs);
      child.kill("SIGKILL"); // the inner init dies with its parent, and the pid namespace with it
      await exited;
      pasta?.kill("SIGKILL");
      await releaseLimits(dir);
    },
    handover() {
      if (child.exitCode !== null || child.signalCode !== null) throw new OperationFailedError("bwrap has already exited");
      const consoleFds = [child.stdout, child.stderr].map(handleFd).filter((fd) => fd !== undefined);
      if (child.pid === undefined || consoleFds.length !== 2) throw new OperationFailedError("bwrap's pipes are not available for the owner monitor");
      // pasta stays the monitor's child too: its parent-death signal ends it with the monitor
      // cleanUpAfterEnd: the cgroup goes as soon as the machine ends on its own
      return { child: { pid: child.pid, name: "bwrap" }, keepFds: [], consoleFds, drainFds: [], watch: null, follow: null, cleanUpAfterEnd: true };
    },
  };
}

/**
 * The graceful part of a stop, from what owner.json records. Then the sandbox's cgroup goes,
 * ending what is left in it (bwrap too, which the monitor would otherwise kill), and its home's
 * mount, so that a stop by signal to the owner leaves nothing behind either.
 */
async function shutDownGracefully(access: MachineAccess, graceMs: number): Promise<void> {
  const initPid = num(access.owner.machine, "initPid");
  if (initPid !== undefined && processStartTime(initPid) === access.owner.machine.initStartTime) {
    await shutDownNamespace(initPid, num(access.owner.machine, "keeperPid"), graceMs);
  }
  await releaseLimits(access.dir);
}

/** A recorded pid, if that process is still the one recorded (its start time matches). */
function liveRecordedPid(access: MachineAccess, pidKey: string, startKey: string): ProcessCheck | undefined {
  const pid = num(access.owner.machine, pidKey);
  const recordedStart = access.owner.machine[startKey];
  if (pid === undefined || typeof recordedStart !== "string" || processStartTime(pid) !== recordedStart) return undefined;
  return { pid, startTime: recordedStart };
}

/** How to enter the sandbox, and the processes that must still be the recorded ones (the launcher checks them too). */
function enterArgs(access: MachineAccess): { nsenter: string; args: string[]; checks: ProcessCheck[]; step: string[] } {
  const init = liveRecordedPid(access, "initPid", "initStartTime");
  if (init === undefined) {
    throw new OperationFailedError(`sandbox ${access.spec.id} has no running init process`, `see \`heyvm logs ${access.spec.id}\`; restart it with \`heyvm stop\` and \`heyvm wt --detach\``);
  }
  const nsenter = findSystemExecutable("nsenter");
  if (!nsenter) throw new UnavailableError("nsenter is not installed", "install util-linux");
  const inner = ["--target", String(init.pid), "--user", "--mount", "--pid", "--uts", "--ipc", "--preserve-credentials"];
  if (access.owner.machine.outerPid === undefined) {
    // started by a heyvm from before the outer user namespace: bwrap straight in the host's
    if (networkMode(access.spec) === "none") inner.push("--net");
    return { nsenter, args: inner, checks: [init], step: [] };
  }
  if (networkMode(access.spec) !== "host") inner.push("--net");
  const outer = liveRecordedPid(access, "outerPid", "outerStartTime");
  if (outer === undefined) throw new OperationFailedError(`sandbox ${access.spec.id} has lost its bwrap process`, `restart it with \`heyvm stop ${access.spec.id}\` and \`heyvm wt --detach\``);
  // First the outer user namespace, as its root: that is the sandbox's host user (root, who
  // runs heyvm, becomes it there; anyone else already is it). Its rights then let the second
  // nsenter (the host's binary: still the host's mounts) join the sandbox's namespaces as heyo.
  const asRoot = process.getuid?.() === 0;
  return { nsenter, args: [`--user=/proc/${outer.pid}/ns/user`, ...(asRoot ? [] : ["--preserve-credentials"]), "--", nsenter, ...inner], checks: [init, outer], step: entryStep(access) };
}

/** The step recorded at boot (joining the cgroup, or the process limit) that runs before nsenter. */
function entryStep(access: MachineAccess): string[] {
  const step = access.owner.machine.entryStep;
  return Array.isArray(step) && step.every((word): word is string => typeof word === "string") ? step : [];
}

/**
 * The program that enters, and its arguments: the entry step (if any), then nsenter under the
 * sandbox's seccomp filter (what enters gets the sandbox's filter too).
 */
function entering(enter: { nsenter: string; args: string[]; step: string[] }): { file: string; words: string[] } {
  const [file = "", ...words] = [...enter.step, ...underSeccomp([enter.nsenter, ...enter.args])];
  return { file, words };
}

function shellIn(access: MachineAccess, options: CommandOptions): SpawnSpec {
  const { file, words } = entering(enterArgs(access));
  return {
    file,
    args: [...words, "--", "/bin/sh", "-c", LOGIN_SHELL, "heyvm", ...enterWords(options.cwd ?? WORKSPACE, options.env)],
    // nsenter runs on the host first: it gets the fixed guest environment, never the caller's
    env: guestEnvironment(access.spec, SANDBOX_HOME),
  };
}

/** nsenter into the sandbox's namespaces, then a script that enters the folder, exports the variables and execs argv. */
function execRecipe(access: MachineAccess): ExecRecipe {
  const enter = enterArgs(access);
  const { file, words } = entering(enter);
  return {
    program: file,
    lookup: null,
    args: [...words, "--", "/bin/sh", "-c", CD_AND_EXEC, "heyvm", { join: [{ value: "cwd", quote: false }] }, { join: [{ value: "envCount" }] }, { each: "env" }, { each: "argv" }],
    // nsenter runs on the host first: it gets the fixed guest environment, never the caller's
    env: guestEnvironmentRecipe(access.spec, SANDBOX_HOME),
    cwd: WORKSPACE,
    checkEnvNames: true,
    checks: enter.checks,
  };
}

/**
 * With its own network (outbound) a guest port is reached through the 127.0.0.1 port pasta
 * forwards to it, as recorded at boot; with the host's network it is the host's own port.
 */
function portEndpoint(access: MachineAccess, guestPort: number): HostEndpoint | undefined {
  const mode = networkMode(access.spec);
  if (mode === "host") return { host: "127.0.0.1", port: guestPort };
  if (mode === "none") return undefined;
  return recordedForward(access, guestPort);
}

async function probe(): Promise<Availability> {
  if (process.platform !== "linux") return { usable: false, reason: "bubblewrap needs Linux", hint: "use apple_virt on macOS" };
  if (!bwrapBinary()) return { usable: false, reason: `bwrap is not installed${process.env.HEYVM_BWRAP ? ` at ${process.env.HEYVM_BWRAP}` : ""}`, hint: INSTALL_HINT };
  for (const tool of ["nsenter", "unshare"]) if (!findSystemExecutable(tool)) return { usable: false, reason: `${tool} is not installed`, hint: "install util-linux" };
  if (!seccompHelper()) return { usable: false, reason: "heyvm-seccomp is not built", hint: "run `npm run build` (with libseccomp-dev installed)" };
  // without pasta only --no-network and --network host sandboxes can start
  return { usable: true, notes: pastaPath() ? [] : [`pasta is not installed: only --no-network or --network host sandboxes start (${PASST_PACKAGE_HINT})`] };
}

/** The sandbox's cgroup (a stop, an owner that died): removed with what is left in it. */
async function reapOrphans(_home: HeyoHome, dir: SandboxDir): Promise<string[]> {
  return releaseLimits(dir);
}

async function cleanUpAfterEnd(access: MachineAccess, reporter: Reporter): Promise<void> {
  for (const released of await releaseLimits(access.dir)) reporter.info(`released ${released}`);
}

export const bubblewrapBackend: Backend & ImagePreparer & GracefulStopper & PortReacher & OrphanReaper = {
  name: "bubblewrap",
  features: { workspace: "bind", virtualMachine: false, images: true, networkIsolation: true },
  probe,
  boot,
  shellCommand: shellIn,
  execRecipe,
  shutDownGracefully,
  cleanUpAfterEnd,
  reapOrphans,
  portEndpoint,
  async prepareImage(home, image) {
    imageRoot(home, image);
  },
};
