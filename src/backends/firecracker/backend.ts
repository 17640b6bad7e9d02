// The firecracker backend: one Firecracker microVM per sandbox, driven through its HTTP API on
// a unix socket in the sandbox folder. The owner starts Firecracker under `setpriv --pdeathsig
// KILL` (it cannot outlive a SIGKILLed owner), configures logger, boot source, the sandbox's own
// copy of the root filesystem, a read-only config drive, machine size and a vsock device, then
// InstanceStart; the serial console (Firecracker's stdout) goes to owner.log. Shell and exec are
// SSH over vsock (no TAP needed). /workspace is the live worktree over vsock too: the host
// serves it with a bubblewrap-confined sftp-server and the guest mounts it with sshfs
// (ARCHITECTURE.md says why, and what that costs). Stop is Ctrl-Alt-Del, then force.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { OperationFailedError, TimeoutError, UnavailableError, UserError } from "../../shared/errors.js";
import { homeGitconfig } from "../home-gitconfig.js";
import { isObject, readJsonFile, str, writeJsonFile } from "../../shared/json.js";
import { findSystemExecutable } from "../../shared/run.js";
import { handleFd } from "../../shared/handle-fd.js";
import { DEFAULT_IMAGE, imageDir } from "../../images/store.js";
import { FIRECRACKER_BOOT_ARGS, GUEST_CID, WORKSPACE_OVER_VSOCK } from "../../images/firecracker/files.js";
import { vmBoot } from "../../images/vm/boot.js";
import type { ImageManifest } from "../../images/store.js";
import { heyoHome, type HeyoHome } from "../../state/home.js";
import { passedHere } from "../../state/self-tests.js";
import { processStartTime } from "../../state/liveness.js";
import { networkMode, type SandboxSpec, type SshEndpoint } from "../../state/records.js";
import type { SandboxDir } from "../../state/sandbox-dir.js";
import { kvmStatus } from "../kvm.js";
import { vmSize } from "../vm-size.js";
import { recordedForward } from "../forwards.js";
import { boundVmHost, releaseVmHost } from "../vm-host-limits.js";
import { closeSshMaster, ensureSshMaterial, sshExecRecipe, sshMaterial, sshRun, sshShell } from "../ssh.js";
import type { Availability, Backend, BootContext, GracefulStopper, HostEndpoint, ImagePreparer, MachineAccess, OrphanReaper, PortReacher, Reporter, RunningMachine, SandboxPreparer } from "../types.js";
import { INSTANCE_START, SEND_CTRL_ALT_DEL, callApi, configurationCalls, type MachinePlan } from "./api.js";
import { ensureRootfsCopy, writeConfigDrive } from "./disk.js";
import { createTap, planTap, removeTap, tapUnavailable, type TapPlan } from "./tap.js";
import { sandboxHostUser } from "../host-ids.js";
import { grantSandboxAccess } from "../bubblewrap/host-user.js";
import { bwrapBinary } from "../bubblewrap/args.js";
import { FIRECRACKER_FILES, firecrackerMachineRecord, readFirecrackerMachine } from "./machine.js";
import { confinedSftpServer, sftpServer, sshOverVsock, startForwarder, startWorkspaceChannel, vsockHelper } from "./host-side.js";

export { FIRECRACKER_FILES };

const READY_TIMEOUT_MS = 240_000;
/**
 * Retries at HEYVM_READY: the guest's listeners may not accept yet (the first one or two
 * connections end at once), and a failed attempt costs the guest nothing, so retry soon (bench/firecracker.ts retries alike).
 */
export const WORKSPACE_RETRY_MS = 50;
export const SSH_RETRY_MS = 25;
const STAND_IN_MARK = /stand-in/i;
const INSTALL_HINT = "install Firecracker (a release binary from github.com/firecracker-microvm/firecracker) on PATH, or point HEYVM_FIRECRACKER at it";
/** The ssh endpoint recorded for a vsock-reached guest: host and port only name it (ProxyCommand connects). */
const VSOCK_ENDPOINT: SshEndpoint = { host: "vsock", port: 22, user: "heyo" };

export function firecrackerBinary(): string | undefined {
  const override = process.env.HEYVM_FIRECRACKER;
  return override ? findSystemExecutable(override) : findSystemExecutable("firecracker");
}

/**
 * `firecracker --version`'s first line; the test stand-in says "stand-in" there. Every wt probes,
 * so the answer is kept under HEYO_HOME with the binary's path, size and times, and asked again
 * only when the binary changed (a new install is seen at once; the probe itself is never cached).
 */
export function firecrackerVersion(binary: string, home: HeyoHome = heyoHome()): string {
  const cache = join(home.root, "firecracker-version.json");
  let key = "";
  try {
    const stat = statSync(binary);
    key = JSON.stringify([binary, stat.size, stat.mtimeMs, stat.ctimeMs, stat.ino]);
    const cached = readJsonFile(cache);
    const version = cached ? str(cached, "version") : undefined;
    if (cached && str(cached, "key") === key && version) return version;
  } catch {
    key = "";
  }
  const result = spawnSync(binary, ["--version"], { encoding: "utf8", timeout: 10_000 });
  const version = (result.stdout || result.stderr || "").trim().split("\n")[0] ?? "";
  if (key && result.status === 0 && version) {
    try {
      writeJsonFile(cache, { key, version });
    } catch {
      // a read-only HEYO_HOME only costs the next probe a spawn
    }
  }
  return version;
}

async function probe(): Promise<Availability> {
  if (process.platform !== "linux") return { usable: false, reason: "Firecracker needs Linux with KVM", hint: "use apple_virt on macOS" };
  const binary = firecrackerBinary();
  if (!binary) {
    return { usable: false, reason: process.env.HEYVM_FIRECRACKER ? `HEYVM_FIRECRACKER (${process.env.HEYVM_FIRECRACKER}) is not an executable` : "the firecracker binary is not on PATH", hint: INSTALL_HINT };
  }
  for (const [file, pkg] of [["setpriv", "util-linux"], ["ssh", "openssh-client"], ["ssh-keygen", "openssh-client"], ["dumpe2fs", "e2fsprogs"], ["tar", "tar"]] as const) {
    if (!findSystemExecutable(file)) return { usable: false, reason: `${file} is not installed`, hint: `install it with \`apt-get install ${pkg}\`` };
  }
  if (!bwrapBinary()) return { usable: false, reason: "bwrap is not installed (it confines the sftp-server that serves /workspace)", hint: "install it with `apt-get install bubblewrap`" };
  if (!sftpServer()) return { usable: false, reason: "no sftp-server found (it serves /workspace to the guest)", hint: "install it with `apt-get install openssh-sftp-server`" };
  if (!vsockHelper()) return { usable: false, reason: "heyvm-vsock-connect is not built", hint: "run `npm run build`" };
  const version = firecrackerVersion(binary);
  if (STAND_IN_MARK.test(version)) {
    return { usable: true, notes: [`${version}`], degraded: "the firecracker binary is heyvm's QEMU stand-in, not Firecracker" };
  }
  const kvm = kvmStatus();
  if (!kvm.usable) return { usable: false, reason: kvm.reason, hint: "Firecracker needs working KVM; use --backend libvirt (falls back to software emulation) or --backend bubblewrap" };
  const notes = [version || "firecracker", "KVM"];
  if (!passedHere(heyoHome(), "firecracker", version)) return { usable: true, notes, degraded: "it has not passed `heyvm test-firecracker` on this host yet (run it once; until then it is used only when named)" };
  return { usable: true, notes };
}

function imageName(spec: SandboxSpec): string {
  return spec.image ?? DEFAULT_IMAGE;
}

/** Makes sure the image exists and is sound; the default one is built on first use. */
async function prepareImage(home: HeyoHome, image: string | null, reporter: Reporter): Promise<void> {
  const [{ prepareVmImage }, { buildDefaultFirecrackerImage }] = await Promise.all([import("../../images/vm/prepare.js"), import("../../images/firecracker/build.js")]);
  await prepareVmImage(home, "firecracker", image, buildDefaultFirecrackerImage, reporter);
}

/** Where the owner finds the TAP the sandbox was given for this start (written by prepareSandbox). */
function tapPlanPath(dir: SandboxDir): string {
  return join(dir.root, FIRECRACKER_FILES.tapPlan);
}

function readTapPlan(dir: SandboxDir): TapPlan | null {
  try {
    return JSON.parse(readFileSync(tapPlanPath(dir), "utf8")) as TapPlan;
  } catch {
    return null;
  }
}

/**
 * outbound: a TAP device of its own when heyvm may make one, else no network and wt says why;
 * none: no network device at all; host: Firecracker cannot share the host's network.
 */
function networkFor(spec: SandboxSpec, reporter: Reporter): TapPlan | null {
  const mode = networkMode(spec);
  if (mode === "host") throw new UserError("a firecracker sandbox cannot share the host's network", { hint: "leave out --network host (the default is its own outbound-only network), or use --backend bubblewrap or libvirt" });
  if (mode === "none") return null;
  const missing = tapUnavailable();
  if (missing) {
    reporter.info(`note: this firecracker sandbox runs without network: ${missing}; shell, exec and /workspace go over vsock`);
    return null;
  }
  const plan = planTap(spec.id);
  reporter.info(tapNote(plan));
  return plan;
}

function tapNote(tap: TapPlan): string {
  return `network: TAP ${tap.device}, guest ${tap.guestAddress} via ${tap.hostAddress}, outbound only (NAT; nothing on the host is reachable from the guest)`;
}

/**
 * sshfs shows its own inode numbers, whole-second mtimes and no ctime, so with git's default
 * stat checks every index entry written on the host looks changed inside and git status re-reads
 * every file. Comparing whole-second mtime and size only (as git does on such filesystems) keeps
 * the host's index valid in the guest and the other way round.
 */
const GUEST_GIT_STAT = "[core]\n\tcheckStat = minimal\n\ttrustctime = false\n";

/**
 * How an image of the firecracker format boots (images/vm/boot.ts reads image.json's
 * details.boot; images from before it recorded one boot with the format's command line), and
 * whether its guest takes /workspace over vsock (heyvm's default image and those built from a
 * Dockerfile do; a Dockerfile-built one from before the contract had the channel does not).
 */
function firecrackerBoot(image: string, manifest: ImageManifest): { kernel: string; initrd: string | null; rootfs: string; cmdline: string; workspaceOverVsock: boolean } {
  const recorded = isObject(manifest.details.boot) ? manifest.details.boot : undefined;
  const boot = vmBoot(image, manifest);
  const workspace = recorded ? str(recorded, "workspace") : WORKSPACE_OVER_VSOCK; // the default image before details.boot
  return { kernel: boot.kernel, initrd: boot.initrd, rootfs: boot.rootfs, cmdline: recorded ? boot.cmdline : FIRECRACKER_BOOT_ARGS, workspaceOverVsock: workspace === WORKSPACE_OVER_VSOCK };
}

const NO_WORKSPACE_CHANNEL = (image: string) =>
  `note: image "${image}" has no /workspace channel over vsock (it was built before heyvm's guest contract had one): /workspace stays empty inside; shell and exec work; rebuild it with \`heyvm images build --backend-type firecracker\` to get it`;

/** Run over the first SSH connection: exits 0 once /workspace is mounted, 1 after 10 s without (bench/firecracker.ts runs it too). */
export const WAIT_FOR_WORKSPACE = "i=0; while ! mountpoint -q /workspace; do [ $i -ge 200 ] && exit 1; sleep 0.05; i=$((i+1)); done";

const CONFIG_FILES = ["env", "authorized_keys", "ssh_host_ed25519_key", "gitconfig"] as const;

/** Keys, the guest's settings on the config drive, and the sandbox's own root filesystem. */
async function prepareSandbox(home: HeyoHome, dir: SandboxDir, spec: SandboxSpec, reporter: Reporter): Promise<void> {
  const { verifyVmImage } = await import("../../images/vm/verify.js");
  const tap = networkFor(spec, reporter);
  if (tap) writeFileSync(tapPlanPath(dir), `${JSON.stringify(tap)}\n`);
  else rmSync(tapPlanPath(dir), { force: true });
  const material = await ensureSshMaterial(dir);
  mkdirSync(dir.guestConfigPath, { recursive: true, mode: 0o700 });
  chmodSync(dir.guestConfigPath, 0o700);
  const guest = (name: string) => join(dir.guestConfigPath, name);
  const env = {
    HEYVM_UID: process.getuid?.() ?? 1000,
    HEYVM_GID: process.getgid?.() ?? 1000,
    HEYVM_HOSTNAME: spec.name,
    HEYVM_GITDIR: spec.mounts[0]?.guest ?? "",
    HEYVM_PORTS: spec.ports.join(" "),
    // with a TAP, the guest finds that NIC by MAC and configures it (no DHCP); the names are the
    // guest contract's (images/custom/guest-contract.ts reads HEYVM_NET_MAC, _ADDR, _GW and HEYVM_DNS)
    ...(tap ? { HEYVM_NET_MAC: tap.guestMac, HEYVM_NET_ADDR: `${tap.guestAddress}/30`, HEYVM_NET_GW: tap.hostAddress, ...(tap.dns ? { HEYVM_DNS: tap.dns } : {}) } : {}),
  };
  writeFileSync(guest("env"), `${Object.entries(env).map(([k, v]) => `${k}=${v}`).join("\n")}\n`, { mode: 0o600 });
  copyFileSync(material.clientPublicKey, guest("authorized_keys"));
  copyFileSync(material.hostKey, guest("ssh_host_ed25519_key"));
  writeFileSync(guest("gitconfig"), `${homeGitconfig(dir, reporter)}${GUEST_GIT_STAT}`, { mode: 0o600 });
  const accounts = sftpAccounts(dir);
  writeFileSync(accounts.passwd, `heyo:x:${env.HEYVM_UID}:${env.HEYVM_GID}:heyo:/workspace:/bin/sh\n`, { mode: 0o644 });
  writeFileSync(accounts.group, `heyo:x:${env.HEYVM_GID}:\n`, { mode: 0o644 });
  await writeConfigDrive(dir.guestConfigPath, CONFIG_FILES, join(dir.root, FIRECRACKER_FILES.configDrive));
  const image = imageDir(home, "firecracker", imageName(spec));
  const manifest = await verifyVmImage(image, imageName(spec));
  const boot = firecrackerBoot(image, manifest);
  if (!boot.workspaceOverVsock) reporter.info(NO_WORKSPACE_CHANNEL(imageName(spec)));
  const base = boot.rootfs;
  await ensureRootfsCopy(join(dir.root, FIRECRACKER_FILES.rootfs), base, manifest.checksums.rootfs ?? "", reporter);
}

/** The account files the host's confined sftp-server sees as /etc/passwd and /etc/group. */
function sftpAccounts(dir: SandboxDir): { passwd: string; group: string } {
  return { passwd: join(dir.guestConfigPath, "sftp-passwd"), group: join(dir.guestConfigPath, "sftp-group") };
}

function alive(pid: number | undefined): boolean {
  return pid !== undefined && processStartTime(pid) !== null;
}

async function waitGone(pid: number | undefined, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (alive(pid) && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
  return !alive(pid);
}

function vsockPath(dir: SandboxDir): string {
  return join(dir.root, FIRECRACKER_FILES.vsockSocket);
}

/** Removes sockets a previous Firecracker left (it refuses to bind over them). */
function removeStaleSockets(dir: SandboxDir): void {
  for (const name of readdirSync(dir.root)) {
    if (name === FIRECRACKER_FILES.apiSocket || name === FIRECRACKER_FILES.vsockSocket || name.startsWith(`${FIRECRACKER_FILES.vsockSocket}_`)) rmSync(join(dir.root, name), { force: true });
  }
}

async function boot(context: BootContext): Promise<RunningMachine> {
  const { dir, spec, reporter, home } = context;
  const binary = firecrackerBinary();
  if (!binary) throw new UnavailableError("the firecracker binary is not on PATH", INSTALL_HINT);
  const image = imageDir(home, "firecracker", imageName(spec));
  const { readManifest } = await import("../../images/store.js");
  const manifest = readManifest(image);
  if (!manifest) throw new UnavailableError(`the firecracker image "${imageName(spec)}" has no readable image.json`, `see \`heyvm images list\``);
  const boot = firecrackerBoot(image, manifest);
  const kvmUsable = kvmStatus().usable;
  const size = vmSize(spec, kvmUsable);
  const tap = networkMode(spec) === "outbound" ? readTapPlan(dir) : null;
  if (tap) {
    await createTap(tap, spec.id);
    reporter.info(tapNote(tap));
  }
  const plan: MachinePlan = {
    kernel: boot.kernel,
    initrd: boot.initrd,
    bootArgs: boot.cmdline,
    rootfs: join(dir.root, FIRECRACKER_FILES.rootfs),
    configDrive: join(dir.root, FIRECRACKER_FILES.configDrive),
    vcpus: size.vcpus,
    memoryMiB: size.memoryMiB,
    vsockUds: FIRECRACKER_FILES.vsockSocket,
    guestCid: GUEST_CID,
    logPath: FIRECRACKER_FILES.log,
    tap: tap ? { hostDevName: tap.device, guestMac: tap.guestMac } : null,
  };
  removeStaleSockets(dir);
  writeFileSync(join(dir.root, FIRECRACKER_FILES.log), "", { flag: "a" });
  const apiSocket = join(dir.root, FIRECRACKER_FILES.apiSocket);
  const uds = vsockPath(dir);
  const transport = sshOverVsock(uds);

  const started = Date.now();
  reporter.info(`starting ${binary} (${size.vcpus} vCPU, ${size.memoryMiB} MiB), API on ${apiSocket}`);
  // the machine and the sftp-server's helpers join the sandbox's cgroup first (root; vm-host-limits.ts)
  const hostBounds = await boundVmHost(spec.id, size, kvmUsable);
  if (hostBounds.set.length > 0 || hostBounds.notSet.length > 0) reporter.info([...hostBounds.set, ...hostBounds.notSet.map((line) => `NOT set: ${line}`)].join("; "));
  const [spawnFile = "setpriv", ...spawnArgs] = [...hostBounds.entryStep, "setpriv"];
  const child = spawn(spawnFile, [...spawnArgs, "--pdeathsig", "KILL", "--", binary, "--api-sock", FIRECRACKER_FILES.apiSocket, "--id", spec.id], { cwd: dir.root, stdio: ["pipe", "pipe", "pipe"] });
  let consoleText = "";
  /** Wakes the wait for HEYVM_READY at once when console output arrives (no polling delay). */
  let consoleArrived: () => void = () => undefined;
  const onConsole = (chunk: Buffer) => {
    const text = chunk.toString("utf8");
    consoleText = (consoleText + text).slice(-65536);
    context.console(text);
    consoleArrived();
  };
  child.stdout.on("data", onConsole);
  child.stderr.on("data", onConsole);
  let exitReason: string | undefined;
  const childExited = new Promise<string>((resolve) => {
    child.once("exit", (code, signal) => {
      exitReason = signal ? `Firecracker was killed by ${signal}` : code === 0 ? "Firecracker exited: the guest powered off or rebooted" : `Firecracker exited with code ${code ?? "?"}`;
      resolve(exitReason);
    });
    child.once("error", (error) => {
      exitReason = `Firecracker could not be started: ${error.message}`;
      resolve(exitReason);
    });
  });
  const helpers: ChildProcess[] = [];
  /** Set once /workspace is mounted or the boot failed: no more /workspace sessions are opened. */
  let mounted = false;
  const fail = async (error: unknown): Promise<never> => {
    mounted = true;
    for (const helper of helpers) helper.kill("SIGKILL");
    if (exitReason === undefined) child.kill("SIGKILL");
    await childExited;
    await closeSshMaster(dir, VSOCK_ENDPOINT, transport);
    if (tap) await removeTap(tap.device, spec.id);
    await releaseVmHost(spec.id);
    throw error;
  };
  const check = () => {
    if (context.signal.aborted) throw new OperationFailedError("stopped while starting");
    if (exitReason !== undefined) throw new OperationFailedError(`${exitReason} during boot (see the console output above)`);
    if (Date.now() - started > READY_TIMEOUT_MS) throw new TimeoutError(`the guest was not ready within ${READY_TIMEOUT_MS / 1000} s`);
  };
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  let forwards: Record<string, number> = {};
  try {
    while (!existsSync(apiSocket)) {
      check();
      await pause(5);
    }
    reporter.info(`Firecracker's API socket is listening after ${Date.now() - started} ms`);
    for (const call of [...configurationCalls(plan), INSTANCE_START]) {
      check();
      await callApi(apiSocket, call);
    }
    reporter.info(`Firecracker configured and started in ${Date.now() - started} ms; waiting for the guest`);
    // worked out while the guest boots (ldd of sftp-server), so nothing but spawns follow READY
    const user = await sandboxHostUser(dir);
    const accounts = sftpAccounts(dir);
    await grantSandboxAccess(user, { writable: [spec.workspace, ...spec.mounts.filter((m) => !m.readOnly).map((m) => m.host)], readable: [...spec.mounts.filter((m) => m.readOnly).map((m) => m.host), accounts.passwd, accounts.group], owned: [] }, reporter);
    const sftpArgv = confinedSftpServer(spec, accounts, user);
    while (!consoleText.includes("HEYVM_READY")) {
      check();
      if (consoleText.includes("HEYVM_FAILED")) throw new OperationFailedError(`the guest failed to start: ${/HEYVM_FAILED[^\n]*/.exec(consoleText)?.[0] ?? ""}`);
      // the next console chunk, or 200 ms (the checks above also watch for exit, abort and timeout)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        consoleArrived = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    consoleArrived = () => undefined;
    reporter.info(`guest ready after ${((Date.now() - started) / 1000).toFixed(1)} s; mounting /workspace and checking SSH`);
    // The /workspace session: opened at once and again a moment after it ends, until the guest
    // has mounted it (the guest may not listen yet); after that a session that ends stays ended.
    const openChannel = () => {
      const channel = startWorkspaceChannel(uds, sftpArgv, join(dir.root, FIRECRACKER_FILES.sftpLog), hostBounds.entryStep);
      helpers.push(channel);
      channel.once("exit", () => {
        if (!mounted && exitReason === undefined) setTimeout(() => mounted || openChannel(), WORKSPACE_RETRY_MS);
      });
    };
    if (boot.workspaceOverVsock) openChannel();
    else reporter.info(NO_WORKSPACE_CHANNEL(imageName(spec)));
    for (;;) {
      check();
      // one connection that waits inside for the mount (up to 10 s), rather than one per poll
      const probeResult = await sshRun(dir, VSOCK_ENDPOINT, boot.workspaceOverVsock ? WAIT_FOR_WORKSPACE : "true", 20_000, transport);
      if (probeResult.code === 0) break;
      await pause(SSH_RETRY_MS);
    }
    mounted = true;
    for (const guestPort of spec.ports) {
      const forwarder = await startForwarder(uds, guestPort, join(dir.root, FIRECRACKER_FILES.sftpLog), hostBounds.entryStep);
      helpers.push(forwarder.child);
      forwards = { ...forwards, [String(guestPort)]: forwarder.hostPort };
    }
    reporter.info(`ssh and /workspace ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (error) {
    return fail(error);
  }

  let stopping = false;
  const exited = childExited.then(async (reason) => {
    await closeSshMaster(dir, VSOCK_ENDPOINT, transport);
    if (tap) await removeTap(tap.device, spec.id);
    return stopping ? "stopped" : reason;
  });
  return {
    info: {
      guestIp: null,
      ssh: VSOCK_ENDPOINT,
      machine: firecrackerMachineRecord({
        firecrackerPid: child.pid ?? null,
        // what bounds the host-side processes (QEMU or Firecracker, the sftp-server, its helpers), for get
        limits: { values: { pids: hostBounds.limits.pids, memoryMiB: hostBounds.limits.memoryMiB, cpus: hostBounds.limits.cpus }, set: hostBounds.set, notSet: hostBounds.notSet },
        apiSocket,
        vsockSocket: uds,
        vcpus: size.vcpus,
        memoryMiB: size.memoryMiB,
        network: tap ? "tap" : "none",
        tapDevice: tap?.device ?? null,
        // guest port → the 127.0.0.1 port that reaches it over vsock (the cloud's proxy uses it)
        forwards,
      }),
    },
    exited,
    async stop(graceMs: number) {
      stopping = true;
      await shutDownMachine(dir, apiSocket, child.pid, graceMs, reporter, transport);
      if (exitReason === undefined) child.kill("SIGKILL");
      await childExited;
      await releaseVmHost(spec.id);
    },
    handover() {
      const stdin = handleFd(child.stdin);
      const consoleFds = [child.stdout, child.stderr].map(handleFd).filter((fd): fd is number => fd !== undefined);
      if (child.pid === undefined || exitReason !== undefined || stdin === undefined || consoleFds.length !== 2) throw new OperationFailedError("Firecracker's pipes are not available for the owner monitor");
      // a guest that powers off on its own leaves the TAP and the shared SSH connection: the monitor has them removed at once
      return { child: { pid: child.pid, name: "firecracker" }, keepFds: [stdin], consoleFds, drainFds: [], watch: null, follow: null, cleanUpAfterEnd: true };
    },
  };
}

/** Ctrl-Alt-Del to the guest (its init syncs, unmounts, reboots: Firecracker exits), waiting graceMs. */
async function shutDownMachine(dir: SandboxDir, apiSocket: string, pid: number | undefined, graceMs: number, reporter: Reporter, transport: readonly string[]): Promise<void> {
  await closeSshMaster(dir, VSOCK_ENDPOINT, transport);
  if (!alive(pid)) return;
  try {
    await callApi(apiSocket, SEND_CTRL_ALT_DEL, 5000);
  } catch (error) {
    reporter.info(`SendCtrlAltDel failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!(await waitGone(pid, graceMs))) reporter.info(`the guest did not shut down within ${graceMs / 1000} s; ending Firecracker`);
}

/** The graceful part of a stop, from what owner.json records (the monitor then kills Firecracker). */
async function shutDownGracefully(access: MachineAccess, graceMs: number, reporter: Reporter): Promise<void> {
  const machine = readFirecrackerMachine(access.owner);
  if (machine.apiSocket === null || machine.vsockSocket === null) return;
  await shutDownMachine(access.dir, machine.apiSocket, machine.firecrackerPid ?? undefined, graceMs, reporter, sshOverVsock(machine.vsockSocket));
  // the TAP goes with the machine (a device still held by Firecracker vanishes when it exits)
  if (machine.tapDevice !== null) await removeTap(machine.tapDevice, access.spec.id);
  for (const released of await releaseVmHost(access.spec.id)) reporter.info(`released ${released}`);
}

/** After the guest powered off on its own (the monitor runs it before it finishes): the TAP and its rules, and ssh's shared connection. */
async function cleanUpAfterEnd(access: MachineAccess, reporter: Reporter): Promise<void> {
  const { vsockSocket, tapDevice } = readFirecrackerMachine(access.owner);
  await closeSshMaster(access.dir, VSOCK_ENDPOINT, vsockSocket !== null && vsockHelper() ? sshOverVsock(vsockSocket) : []);
  if (tapDevice !== null && (await removeTap(tapDevice, access.spec.id))) reporter.info(`removed TAP device ${tapDevice} and its rules`);
  for (const released of await releaseVmHost(access.spec.id)) reporter.info(`released ${released}`);
}

/** What a SIGKILLed owner can leave: Firecracker dies with it (pdeathsig), its sockets and ssh's master do not. */
async function reapOrphans(_home: HeyoHome, dir: SandboxDir): Promise<string[]> {
  const cleaned: string[] = [];
  const tap = readTapPlan(dir);
  if (tap && (await removeTap(tap.device, dir.id))) cleaned.push(`TAP device ${tap.device} and its rules`);
  if (existsSync(sshMaterial(dir).controlPath)) {
    await closeSshMaster(dir, VSOCK_ENDPOINT, vsockHelper() ? sshOverVsock(vsockPath(dir)) : []);
    rmSync(sshMaterial(dir).controlPath, { force: true });
    cleaned.push("shared SSH connection");
  }
  if (existsSync(dir.root) && readdirSync(dir.root).some((name) => name === FIRECRACKER_FILES.apiSocket || name.startsWith(FIRECRACKER_FILES.vsockSocket))) {
    removeStaleSockets(dir);
    cleaned.push("Firecracker's sockets");
  }
  cleaned.push(...(await releaseVmHost(dir.id)));
  return cleaned;
}

function transportOf(access: MachineAccess): readonly string[] {
  const uds = readFirecrackerMachine(access.owner).vsockSocket;
  if (uds === null) throw new OperationFailedError(`sandbox ${access.spec.id} has no vsock socket recorded`, "restart it with `heyvm stop` and `heyvm wt --detach`");
  return sshOverVsock(uds);
}

/** Guest ports are reached through the 127.0.0.1 forwarders over vsock that the owner started at boot. */
function portEndpoint(access: MachineAccess, guestPort: number): HostEndpoint | undefined {
  return recordedForward(access, guestPort);
}

export const firecrackerBackend: Backend & ImagePreparer & SandboxPreparer & OrphanReaper & GracefulStopper & PortReacher = {
  name: "firecracker",
  features: { workspace: "sshfs", virtualMachine: true, images: true, networkIsolation: true },
  probe,
  boot,
  prepareImage,
  prepareSandbox,
  reapOrphans,
  shutDownGracefully,
  cleanUpAfterEnd,
  portEndpoint,
  shellCommand: (access, options) => sshShell(access.dir, VSOCK_ENDPOINT, options, transportOf(access)),
  execRecipe: (access) => sshExecRecipe(access.dir, VSOCK_ENDPOINT, transportOf(access)),
};
