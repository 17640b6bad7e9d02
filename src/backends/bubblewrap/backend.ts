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
import { findSystemExecutable } from "../../shared/run.js";
import { handleFd } from "../../shared/handle-fd.js";
import { processStartTime } from "../../state/liveness.js";
import { networkMode, type SandboxSpec } from "../../state/records.js";
import { imageDir, readManifest } from "../../images/store.js";
import type { HeyoHome } from "../../state/home.js";
import { recordedForward } from "../forwards.js";
import { forwardsRecord } from "../machine-record.js";
import { BUBBLEWRAP_FILES, bubblewrapMachineRecord, readBubblewrapMachine } from "./machine.js";
import type { Availability, Backend, BootContext, CommandOptions, GracefulStopper, HostEndpoint, ImagePreparer, MachineAccess, OrphanReaper, PortReacher, Reporter, RunningMachine, SpawnSpec } from "../types.js";
import { CD_AND_EXEC, LOGIN_SHELL, enterWords, guestEnvironment, guestEnvironmentRecipe } from "../guest-env.js";
import type { ExecRecipe, ProcessCheck } from "../exec-recipe.js";
import { SANDBOX_HOME, WORKSPACE, bwrapArgs, bwrapBinary, sandboxAccounts } from "./args.js";
import { grantSandboxAccess, sandboxHostUser, type HostUser } from "./host-user.js";
import { PASST_PACKAGE_HINT } from "../user-net.js";
import { seccompHelper, underSeccomp } from "../seccomp.js";
import { guardedBwrap, guardedRun, nameguardHelper } from "../nameguard.js";
import { hostForwards, pastaPath, resolvConfPath, sandboxResolvConf, startPasta, type PortForward } from "./network.js";
import { applyLimits, releaseLimits, type AppliedLimits } from "./limits.js";
import { describeLimits, sandboxLimits, type SandboxLimits } from "../sandbox-limits.js";
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

/** The programs a boot runs, found before anything is made. */
function bootTools(spec: SandboxSpec): { bwrap: string; unshare: string } {
  const bwrap = bwrapBinary();
  if (!bwrap) throw new UnavailableError("bwrap is not installed", INSTALL_HINT);
  const unshare = requireTool("unshare");
  if (networkMode(spec) === "outbound" && !pastaPath()) throw new UnavailableError("pasta is not installed (the default network of bubblewrap sandboxes: outbound only)", PASST_PACKAGE_HINT);
  return { bwrap, unshare };
}

/** The sandbox's own files bwrap binds: its home, /etc/passwd and group, resolv.conf (outbound). */
interface SandboxFiles {
  root: string | null;
  etcDir: string;
  runDir: string;
  resolvConf: { file: string; path: string } | undefined;
}

/** Step 1: the folders and /etc files of the sandbox, written in its folder. */
function writeSandboxFiles(context: BootContext): SandboxFiles {
  const { dir, spec } = context;
  const root = imageRoot(context.home, spec.image);
  const etcDir = join(dir.root, "etc");
  const runDir = join(dir.root, BUBBLEWRAP_FILES.runDir);
  for (const folder of [dir.homePath, etcDir, runDir]) mkdirSync(folder, { recursive: true });
  const shell = existsSync(join(root ?? "/", "bin", "bash")) ? "/bin/bash" : "/bin/sh";
  const accounts = sandboxAccounts(readFileSync(join(root ?? "/", "etc", "passwd"), "utf8"), readFileSync(join(root ?? "/", "etc", "group"), "utf8"), shell);
  writeFileSync(join(etcDir, "passwd"), accounts.passwd);
  writeFileSync(join(etcDir, "group"), accounts.group);
  const resolvText = networkMode(spec) === "outbound" ? sandboxResolvConf() : undefined;
  const resolvPath = resolvText === undefined ? undefined : resolvConfPath(root ?? "/");
  if (resolvText === undefined || !resolvPath) return { root, etcDir, runDir, resolvConf: undefined };
  writeFileSync(join(etcDir, "resolv.conf"), resolvText);
  return { root, etcDir, runDir, resolvConf: { file: join(etcDir, "resolv.conf"), path: resolvPath } };
}

/**
 * Step 2, three things at once: the limits (cgroup, home image), the sandbox user's access to
 * the trees it is given (ACLs, when heyvm is root) and the host ports of its forwards. Its own
 * folders are handed to it last, once home is mounted.
 */
async function limitAndGrant(context: BootContext, user: HostUser, files: SandboxFiles): Promise<{ applied: AppliedLimits; limits: SandboxLimits; forwards: PortForward[] }> {
  const { dir, spec, reporter } = context;
  const limits = sandboxLimits(spec);
  const given = {
    writable: [spec.workspace, ...spec.mounts.filter((m) => !m.readOnly).map((m) => m.host)],
    readable: [...spec.mounts.filter((m) => m.readOnly).map((m) => m.host), files.etcDir, ...(files.root ? [files.root] : [])],
    owned: [],
  };
  // all three settle before a failure is thrown: nothing is left half done behind the owner's back
  const [limiting, forwarding, granting] = await Promise.allSettled([
    applyLimits(dir, limits, user),
    networkMode(spec) === "outbound" ? hostForwards(spec.ports, spec.hostPorts) : Promise.resolve([]),
    grantSandboxAccess(user, given, reporter),
  ]);
  for (const result of [limiting, forwarding, granting]) if (result.status === "rejected") throw result.reason;
  const applied = (limiting as PromiseFulfilledResult<AppliedLimits>).value;
  const forwards = (forwarding as PromiseFulfilledResult<PortForward[]>).value;
  traceStep("bubblewrap: limits applied (cgroup, home), access granted");
  await grantSandboxAccess(user, { writable: [], readable: [], owned: [dir.homePath, files.runDir] }, reporter);
  reporter.info(`limits: ${describeLimits(limits)}; set: ${applied.set.join(", ")}`);
  if (applied.notSet.length > 0) reporter.info(`limits NOT set: ${applied.notSet.join("; ")}`);
  return { applied, limits, forwards };
}

/** What to spawn: argv, and the user to spawn it as when no entry step drops root first. */
interface SandboxCommand {
  argv: string[];
  spawnAs: { uid: number; gid: number } | undefined;
}

/** Step 3: bwrap's command line, from the entry step (as root) through the drop to the sandbox's user, unshare and the seccomp filter. */
function sandboxCommand(context: BootContext, tools: { bwrap: string; unshare: string }, user: HostUser, files: SandboxFiles, limited: { applied: AppliedLimits; limits: SandboxLimits }): SandboxCommand {
  const { spec, reporter } = context;
  const args = bwrapArgs(spec, {
    tmpSizeBytes: limited.limits.tmpMiB * 1024 * 1024,
    imageRoot: files.root,
    homeDir: context.dir.homePath,
    passwdFile: join(files.etcDir, "passwd"),
    groupFile: join(files.etcDir, "group"),
    resolvConf: files.resolvConf,
    hostFiles: files.root && networkMode(spec) !== "none" ? resolverFiles(files.root).filter((file) => !(files.resolvConf && file === "/etc/resolv.conf")) : [],
  });
  // The command itself says when bwrap has finished setting up (info-fd comes earlier).
  // the name guard (../nameguard.ts) is installed inside once bwrap's mounts are made
  const guard = guardedBwrap(WORKSPACE);
  args.push("--info-fd", "3", "--", ...guard.command, "/bin/sh", "-c", `echo ${READY_MARK}; exec sleep 2147483647`);
  reporter.info(`starting bwrap ${args.join(" ")}`);
  if (user.dropsRoot) reporter.info(`heyvm runs as root: the sandbox runs as uid ${user.uid}, gid ${user.gid} on the host`);
  // The entry step joins the sandbox's cgroup as root; only then does setpriv drop to its user.
  const entry = limited.applied.entryStep;
  const dropRoot = user.dropsRoot && entry.length > 0 ? [requireTool("setpriv"), `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--"] : [];
  // unshare makes the outer user namespace (the host user is root there) and execs bwrap in
  // place, under heyvm's seccomp filter (no setuid/setgid files, no devices: ../seccomp-policy.ts)
  // and behind the name guard's supervisor (../nameguard.ts)
  const argv = [...entry, ...dropRoot, ...underSeccomp([tools.unshare, "--user", "--map-root-user", "--", ...guard.wrapper, tools.bwrap, ...args])];
  return { argv, spawnAs: user.dropsRoot && dropRoot.length === 0 ? { uid: user.uid, gid: user.gid } : undefined };
}

/** bwrap running: its process, when it ends, and the two moments of its start (info-fd, then the ready mark). */
interface StartedSandbox {
  child: ChildProcess;
  exited: Promise<string>;
  /** Rejects if bwrap ends or cannot be spawned before the sandbox is ready. */
  failed: Promise<never>;
  initPid: Promise<{ initPid: number }>;
  ready: Promise<void>;
}

/** Step 4: spawns the command; bwrap's output is the sandbox's console. */
function startSandbox(context: BootContext, command: SandboxCommand): StartedSandbox {
  const [file = "", ...args] = command.argv;
  const child = spawn(file, args, {
    stdio: ["ignore", "pipe", "pipe", "pipe"],
    // bwrap passes its environment to the sandbox: only the fixed guest environment, no host secrets
    env: guestEnvironment(context.spec, SANDBOX_HOME),
    ...(command.spawnAs ?? {}),
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
  const failed = Promise.race([
    new Promise<never>((_, reject) => child.on("error", reject)),
    exited.then((reason) => Promise.reject(new OperationFailedError(`the sandbox did not start: ${reason}`))),
  ]);
  failed.catch(() => undefined); // read by whoever waits; after the start, exited says it
  const initPid = info ? readInfo(info as NodeJS.ReadableStream) : Promise.reject(new OperationFailedError("bwrap info pipe missing"));
  return { child, exited, failed, initPid, ready };
}

/**
 * Step 5: waits for the sandbox (its namespaces, then its ready mark), then attaches pasta. pasta
 * attaches only once bwrap has finished setting the namespace up (info-fd comes before bwrap's
 * own loopback set-up, and pasta configuring the namespace at the same moment made bwrap fail
 * with "loopback: Failed RTM_NEWADDR"). On failure it ends what it started.
 */
async function waitForSandbox(context: BootContext, started: StartedSandbox, user: HostUser, network: { runDir: string; forwards: PortForward[] }): Promise<{ initPid: number; pasta: ChildProcess | undefined }> {
  const { child, failed } = started;
  let pasta: ChildProcess | undefined;
  try {
    const { initPid } = await Promise.race([started.initPid, failed]);
    traceStep("bubblewrap: namespaces made (info-fd)");
    await Promise.race([started.ready, failed]);
    traceStep("bubblewrap: sandbox ready mark seen");
    if (networkMode(context.spec) === "outbound" && child.pid !== undefined) {
      const { forwards, runDir } = network;
      pasta = await Promise.race([startPasta({ outerPid: child.pid, initPid, forwards, runDir, logPath: join(context.dir.root, BUBBLEWRAP_FILES.pastaLog), user }, context.signal), failed]);
      traceStep("bubblewrap: pasta ready");
      context.reporter.info(`network: own namespace, outbound only through pasta (pid ${pasta.pid})${forwards.length ? `; ${forwards.map((f) => `127.0.0.1:${f.host} -> port ${f.guest}`).join(", ")}` : ""}`);
    }
    return { initPid, pasta };
  } catch (error) {
    pasta?.kill("SIGKILL");
    child.kill("SIGKILL");
    await releaseLimits(context.dir).catch(() => undefined);
    throw error;
  }
}

/** The boot, step by step: files, limits and access, the command, bwrap, readiness and network. */
async function boot(context: BootContext): Promise<RunningMachine> {
  const tools = bootTools(context.spec);
  const user = await sandboxHostUser(context.dir);
  traceStep("bubblewrap: host user known");
  const files = writeSandboxFiles(context);
  traceStep("bubblewrap: files written");
  const limited = await limitAndGrant(context, user, files);
  const started = startSandbox(context, sandboxCommand(context, tools, user, files, limited));
  const { initPid, pasta } = await waitForSandbox(context, started, user, { runDir: files.runDir, forwards: limited.forwards });
  return runningSandbox(context, started, { initPid, pasta, forwards: limited.forwards, applied: limited.applied, limits: limited.limits });
}

/** Step 6: what owner.json records of the running sandbox, and how to stop it and hand it over. */
function runningSandbox(context: BootContext, started: StartedSandbox, sandbox: { initPid: number; pasta: ChildProcess | undefined; forwards: PortForward[]; applied: AppliedLimits; limits: SandboxLimits }): RunningMachine {
  const { child, exited } = started;
  const { initPid, pasta, forwards, applied, limits } = sandbox;
  const initStartTime = processStartTime(initPid);
  const keeper = keeperPid(initPid); // right after readiness it is pid 1's only child
  context.reporter.info(`sandbox init is pid ${initPid}`);
  const outerPid = child.pid ?? null;
  return {
    info: {
      guestIp: null,
      ssh: null,
      machine: bubblewrapMachineRecord({
        initPid,
        initStartTime,
        keeperPid: keeper ?? null,
        // bwrap's first process: it holds the outer user namespace that shell and exec enter first
        outerPid,
        outerStartTime: outerPid === null ? null : processStartTime(outerPid),
        // guest port → the 127.0.0.1 port that reaches it, for whoever exposes it (the cloud's proxy)
        forwards: forwardsRecord(forwards),
        // what shell and exec run first, so that they count against the sandbox's limits too
        entryStep: applied.entryStep,
        limits: { values: limits, set: applied.set, notSet: applied.notSet },
      }),
    },
    exited,
    async stop(graceMs: number) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await shutDownNamespace(initPid, keeper, graceMs);
      child.kill("SIGKILL"); // the inner init dies with its parent, and the pid namespace with it
      await exited;
      pasta?.kill("SIGKILL");
      await releaseLimits(context.dir);
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
  const machine = readBubblewrapMachine(access.owner);
  if (machine.initPid !== null && processStartTime(machine.initPid) === machine.initStartTime) {
    await shutDownNamespace(machine.initPid, machine.keeperPid ?? undefined, graceMs);
  }
  await releaseLimits(access.dir);
}

/** A recorded pid, if that process is still the one recorded (its start time matches). */
function liveRecordedPid(pid: number | null, recordedStart: string | null): ProcessCheck | undefined {
  if (pid === null || recordedStart === null || processStartTime(pid) !== recordedStart) return undefined;
  return { pid, startTime: recordedStart };
}

/** How to enter the sandbox, and the processes that must still be the recorded ones (the launcher checks them too). */
function enterArgs(access: MachineAccess): { nsenter: string; args: string[]; checks: ProcessCheck[]; step: string[] } {
  const machine = readBubblewrapMachine(access.owner);
  const init = liveRecordedPid(machine.initPid, machine.initStartTime);
  if (init === undefined) {
    throw new OperationFailedError(`sandbox ${access.spec.id} has no running init process`, `see \`heyvm logs ${access.spec.id}\`; restart it with \`heyvm stop\` and \`heyvm wt --detach\``);
  }
  const nsenter = findSystemExecutable("nsenter");
  if (!nsenter) throw new UnavailableError("nsenter is not installed", "install util-linux");
  const inner = ["--target", String(init.pid), "--user", "--mount", "--pid", "--uts", "--ipc", "--preserve-credentials"];
  if (machine.outerPid === "absent") {
    // started by a heyvm from before the outer user namespace: bwrap straight in the host's
    if (networkMode(access.spec) === "none") inner.push("--net");
    return { nsenter, args: inner, checks: [init], step: [] };
  }
  if (networkMode(access.spec) !== "host") inner.push("--net");
  const outer = liveRecordedPid(machine.outerPid, machine.outerStartTime);
  if (outer === undefined) throw new OperationFailedError(`sandbox ${access.spec.id} has lost its bwrap process`, `restart it with \`heyvm stop ${access.spec.id}\` and \`heyvm wt --detach\``);
  // First the outer user namespace, as its root: that is the sandbox's host user (root, who
  // runs heyvm, becomes it there; anyone else already is it). Its rights then let the second
  // nsenter (the host's binary: still the host's mounts) join the sandbox's namespaces as heyo.
  const asRoot = process.getuid?.() === 0;
  // the name guard's supervisor stays there, outside the sandbox's pid namespace (../nameguard.ts)
  const second = guardedRun(WORKSPACE, [nsenter, ...inner]);
  return { nsenter, args: [`--user=/proc/${outer.pid}/ns/user`, ...(asRoot ? [] : ["--preserve-credentials"]), "--", ...second], checks: [init, outer], step: machine.entryStep };
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
  if (!nameguardHelper()) return { usable: false, reason: "heyvm-nameguard is not built", hint: "run `npm run build` (with libseccomp-dev installed)" };
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
