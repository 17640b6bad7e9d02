// The libvirt backend: a QEMU virtual machine per sandbox, through libvirt (KVM where it can
// really run a guest, software emulation otherwise). The owner holds an interactive virsh that
// created the domain with --autodestroy, so the VM cannot outlive the owner. /workspace is the
// live worktree over virtiofs; shell and exec go over SSH to a pinned host key.
import type { ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import { readFrom } from "../../shared/file-tail.js";
import { join } from "node:path";
import { OperationFailedError, TimeoutError, UnavailableError } from "../../shared/errors.js";
import { homeGitconfig } from "../home-gitconfig.js";
import { findSystemExecutable } from "../../shared/run.js";
import type { HeyoHome } from "../../state/home.js";
import { networkMode, type SandboxSpec, type SshEndpoint } from "../../state/records.js";
import type { SandboxDir } from "../../state/sandbox-dir.js";
import { DEFAULT_IMAGE, imageDir, readManifest } from "../../images/store.js";
import { vmBoot, type VmBoot } from "../../images/vm/boot.js";
import { kvmStatus } from "../kvm.js";
import { processStartTime } from "../../state/liveness.js";
import { closeSshMaster, ensureSshMaterial, sshExecRecipe, sshMaterial, sshRun, sshShell } from "../ssh.js";
import { diskLayers, ensureOverlay } from "../vm-disk.js";
import { recordedForward } from "../forwards.js";
import { forwardsRecord } from "../machine-record.js";
import { LIBVIRT_FILES, libvirtMachineRecord, readLibvirtMachine } from "./machine.js";
import { vmSize } from "../vm-size.js";
import type { Availability, Backend, BootContext, GracefulStopper, HostEndpoint, ImagePreparer, MachineAccess, OrphanReaper, PortReacher, Reporter, RunningMachine, SandboxPreparer } from "../types.js";
import { grantQemuAccess, grantQemuDiskAccess } from "./access.js";
import { gitDirShare, planShares } from "./shares.js";
import { startShareDaemons, type ShareDaemon } from "./virtiofsd.js";
import { sandboxHostUser } from "../host-ids.js";
import { grantSandboxAccess } from "../bubblewrap/host-user.js";
import { domainXml } from "./domain-xml.js";
import { preparePasstFiles, startPasst } from "./passt.js";
import { domainName, isSystemUri, libvirtUri, qemuRunDir, virsh, virshQuote, VirshSession } from "./virsh.js";
import { freePort } from "../../shared/free-port.js";
import { boundVmHost, moveIntoCgroups, releaseVmHost, type VmHostBounds } from "../vm-host-limits.js";

const VIRTIOFSD_PATHS = ["/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd", "/usr/lib/virtiofsd"];
const GUEST_IP = "10.0.2.15";
const READY_TIMEOUT_MS = 240_000;
const START_HINT = "start it with `sudo systemctl start libvirtd`, or where there is no systemd: `sudo virtlogd -d && sudo libvirtd -d`";

function virtiofsd(): string | undefined {
  return VIRTIOFSD_PATHS.find((path) => existsSync(path));
}

/**
 * heyo's uid/gid inside the guest: the user's own (files match on both sides), but never 0: as
 * root's sandbox heyo is 1000, which heyvm's virtiofsd maps to the sandbox's own host uid.
 */
function guestIds(): { uid: number; gid: number } {
  const uid = process.getuid?.() ?? 1000;
  const gid = process.getgid?.() ?? 1000;
  return uid === 0 ? { uid: 1000, gid: 1000 } : { uid, gid };
}

function imageName(spec: SandboxSpec): string {
  return spec.image ?? DEFAULT_IMAGE;
}

async function probe(): Promise<Availability> {
  if (process.platform !== "linux") return { usable: false, reason: "libvirt sandboxes need Linux", hint: "use apple_virt on macOS" };
  for (const [binary, pkg] of [["virsh", "libvirt-clients"], ["qemu-system-x86_64", "qemu-system-x86"], ["qemu-img", "qemu-utils"], ["ssh", "openssh-client"], ["ssh-keygen", "openssh-client"]] as const) {
    if (!findSystemExecutable(binary)) return { usable: false, reason: `${binary} is not installed`, hint: `install it with \`apt-get install ${pkg}\`` };
  }
  if (!virtiofsd()) return { usable: false, reason: "no virtiofsd found (needed to share /workspace)", hint: "install qemu-system-common (Debian 12) or the virtiofsd package" };
  const kvm = kvmStatus();
  const reachable = await virsh(["uri"], 30_000).catch(() => undefined);
  if (!reachable || reachable.code !== 0) {
    const why = reachable?.stderr ? ` (${reachable.stderr.trim().split("\n").pop()})` : "";
    if (process.getuid?.() !== 0 && libvirtUri().endsWith("/system")) {
      // libvirtd may well run: it refuses a regular user unless polkit (over the system bus) or its socket's group lets it in
      return { usable: false, reason: `${libvirtUri()} does not let this user in${why}`, hint: "unset HEYVM_LIBVIRT_URI: a regular user's VM sandboxes run on its own qemu:///session; or join the group of libvirtd's socket (`sudo adduser $USER libvirt`)" };
    }
    if (!isSystemUri()) return { usable: false, reason: `libvirt's session daemon does not answer at ${libvirtUri()}${why}`, hint: "install libvirt-daemon (virsh starts the session daemon itself); or run heyvm as root for qemu:///system" };
    return { usable: false, reason: `libvirtd is not reachable at ${libvirtUri()}${why}`, hint: START_HINT };
  }
  return kvm.usable
    ? { usable: true, notes: ["KVM"] }
    : { usable: true, notes: [`no KVM: ${kvm.reason}; QEMU software emulation (TCG) is used`], degraded: `no usable KVM (${kvm.reason})` };
}

/** Makes sure the image exists and is sound; the default one is built on first use. */
async function prepareImage(home: HeyoHome, image: string | null, reporter: Reporter): Promise<void> {
  const [{ prepareVmImage }, { buildDefaultVmImage }] = await Promise.all([import("../../images/vm/prepare.js"), import("../../images/vm/build.js")]);
  await prepareVmImage(home, "libvirt", image, (h, target, r) => buildDefaultVmImage(h, "libvirt", target, r), reporter);
}

/** How the sandbox's image boots (its files, disk format and command line), from its image.json. */
function bootOf(home: HeyoHome, spec: SandboxSpec): VmBoot {
  const image = imageDir(home, "libvirt", imageName(spec));
  const manifest = readManifest(image);
  if (!manifest) throw new UnavailableError(`the libvirt image "${imageName(spec)}" has no readable image.json`, "see `heyvm images list`; build it again");
  return vmBoot(image, manifest);
}

function guestConfigFiles(dir: SandboxDir) {
  const guest = dir.guestConfigPath;
  return { env: join(guest, "env"), authorizedKeys: join(guest, "authorized_keys"), hostKey: join(guest, "ssh_host_ed25519_key"), gitconfig: join(guest, "gitconfig") };
}

/** Keys, the pinned known_hosts, the guest's boot config and the copy-on-write disk. */
async function prepareSandbox(home: HeyoHome, dir: SandboxDir, spec: SandboxSpec, reporter: Reporter): Promise<void> {
  const { verifyVmImage } = await import("../../images/vm/verify.js");
  const material = await ensureSshMaterial(dir);
  const files = guestConfigFiles(dir);
  // Traversable (not listable) by QEMU's account; the files in it are 0600 and libvirt lends them.
  mkdirSync(dir.guestConfigPath, { recursive: true });
  chmodSync(dir.guestConfigPath, 0o711);
  const gitDir = gitDirShare(spec)?.guest ?? "";
  const { uid, gid } = guestIds();
  writeFileSync(files.env, `HEYVM_UID=${uid}\nHEYVM_GID=${gid}\nHEYVM_HOSTNAME=${spec.name}\nHEYVM_GITDIR=${gitDir}\n`, { mode: 0o600 });
  copyFileSync(material.clientPublicKey, files.authorizedKeys);
  copyFileSync(material.hostKey, files.hostKey);
  writeFileSync(files.gitconfig, homeGitconfig(dir, reporter), { mode: 0o600 });
  const image = imageDir(home, "libvirt", imageName(spec));
  const manifest = await verifyVmImage(image, imageName(spec));
  const boot = vmBoot(image, manifest);
  await ensureOverlay(dir.diskPath, boot.rootfs, manifest.checksums.rootfs ?? "", reporter, boot.rootfsFormat);
  const layers = await diskLayers(dir.diskPath, boot.rootfs); // a fork's disk: the read-only layers it shares
  await grantQemuAccess([boot.kernel, ...(boot.initrd ? [boot.initrd] : []), boot.rootfs, dir.diskPath, files.env, ...layers], reporter);
  await grantQemuDiskAccess(dir.diskPath, boot.rootfs, layers);
}


/** How often the serial log is read while booting: readiness is noticed this late at most. */
const SERIAL_POLL_MS = 40;

/** Follows the serial log file as QEMU writes it, handing new text to the owner log. */
function followSerial(path: string, onText: (text: string) => void): { stop(): void; offset(): number } {
  let offset = 0;
  const timer = setInterval(() => {
    const chunk = readFrom(path, offset);
    if (!chunk?.text) return;
    offset = chunk.end;
    onText(chunk.text);
  }, SERIAL_POLL_MS);
  return { stop: () => clearInterval(timer), offset: () => offset };
}

function qemuPid(name: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(qemuRunDir(), `${name}.pid`), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number | undefined): boolean {
  return pid !== undefined && processStartTime(pid) !== null; // null: gone, or a zombie
}

async function waitGone(pid: number | undefined, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (alive(pid) && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 100));
  return !alive(pid);
}

/**
 * ACPI shutdown, then destroy after graceMs. Separate virsh calls, so that it works the same in
 * the owner that holds the domain and in the short-lived stop command its monitor runs.
 */
async function shutDownDomain(dir: SandboxDir, endpoint: SshEndpoint, name: string, pid: number | undefined, graceMs: number, reporter: Reporter): Promise<void> {
  await closeSshMaster(dir, endpoint);
  await virsh(["shutdown", name], 30_000).catch(() => undefined);
  if (!(await waitGone(pid, graceMs))) {
    reporter.info(`guest did not power off within ${graceMs / 1000} s; destroying it`);
    await virsh(["destroy", name], 30_000).catch(() => undefined);
    await waitGone(pid, 10_000);
  }
}

/**
 * libvirtd starts QEMU, so it cannot join the sandbox's cgroup on its own: once it runs, it is
 * moved into the pids one (libvirt uses no pids controller) and the memory one (libvirt's own
 * memory cgroup for it sets nothing; its `<memtune><hard_limit>` would, but makes libvirt raise
 * QEMU's locked-memory limit, which libvirtd may not do here). CPU stays libvirt's.
 */
function boundQemu(bounds: VmHostBounds, pid: number | undefined, reporter: Reporter): void {
  if (bounds.entryStep.length === 0) return;
  const failed = pid === undefined ? "its pid file was not found" : moveIntoCgroups(bounds, pid);
  if (failed === undefined) bounds.set.push("host processes: QEMU in the pids and memory cgroups");
  else bounds.notSet.push(`host processes: QEMU's processes (${failed})`);
  reporter.info([...bounds.set, ...bounds.notSet.map((line) => `NOT set: ${line}`)].join("; "));
}

async function boot(context: BootContext): Promise<RunningMachine> {
  const { dir, spec, reporter, home } = context;
  const kvm = kvmStatus();
  reporter.info(kvm.usable ? "KVM is usable: hardware virtualisation" : `KVM not usable (${kvm.reason}): falling back to QEMU software emulation (TCG)`);
  const boot = bootOf(home, spec);
  const name = domainName(spec.id);
  const port = await freePort();
  const forwards: Array<{ host: number; guest: number }> = [];
  for (const guest of spec.ports) forwards.push({ host: spec.hostPorts[String(guest)] ?? (await freePort()), guest });
  const serialLog = join(dir.root, LIBVIRT_FILES.serialLog);
  rmSync(serialLog, { force: true });
  const files = guestConfigFiles(dir);
  const mode = networkMode(spec);
  const size = vmSize(spec, kvm.usable);
  // QEMU, virtiofsd and passt on the host: bounded in processes, memory and CPU (root)
  const hostBounds = await boundVmHost(spec.id, size, kvm.usable);
  // outbound (the default): passt, which never maps the gateway onto the host; none and host
  // (today's QEMU user networking, whose gateway is the host's 127.0.0.1): QEMU's own
  let passt: ChildProcess | undefined;
  let passtSocket: string | undefined;
  if (mode === "outbound") {
    const passtFiles = preparePasstFiles(dir);
    await grantQemuAccess([passtFiles.socket], reporter); // QEMU (and passt, as QEMU's user) reach its folder
    passt = await startPasst(passtFiles, [{ host: port, guest: 22 }, ...forwards], context.signal, hostBounds.entryStep).catch(async (error: unknown) => {
      await releaseVmHost(spec.id);
      throw error;
    });
    passtSocket = passtFiles.socket;
    reporter.info(`network: outbound only through passt (pid ${passt.pid}), no way to the host's loopback`);
  } else if (mode === "host") {
    reporter.info("network: QEMU user networking shared with the host: the guest reaches the host's 127.0.0.1 through 10.0.2.2");
  }
  // /workspace and the sandbox's git store: heyvm's own virtiofsd, as the sandbox's host user,
  // the host's objects and heyvm's `.git` file bound read-only in its own namespace (shares.ts)
  const user = await sandboxHostUser(dir);
  const shares = planShares(spec);
  await grantSandboxAccess(user, { writable: [spec.workspace, ...spec.mounts.filter((m) => !m.readOnly).map((m) => m.host)], readable: spec.mounts.filter((m) => m.readOnly).map((m) => m.host), owned: [] }, reporter);
  let daemons: ShareDaemon[];
  try {
    daemons = await startShareDaemons(dir, virtiofsd() ?? VIRTIOFSD_PATHS[0] ?? "", shares, user, guestIds(), context.signal, hostBounds.entryStep);
  } catch (error) {
    passt?.kill("SIGKILL");
    await releaseVmHost(spec.id);
    throw error;
  }
  reporter.info(`shares: heyvm's own virtiofsd, the guest's heyo is uid ${user.uid} on the host (${daemons.map((d) => `${d.tag}: pid ${d.child.pid}`).join(", ")})`);
  const endShares = () => daemons.forEach((daemon) => daemon.child.kill("SIGKILL"));
  const xml = domainXml({
    name,
    kvm: kvm.usable,
    memoryMiB: size.memoryMiB,
    vcpus: size.vcpus,
    kernel: boot.kernel,
    initrd: boot.initrd,
    cmdline: boot.cmdline,
    disk: dir.diskPath,
    diskSeclabel: isSystemUri(),
    serialLog,
    sshPort: port,
    forwards,
    shares: daemons.map((daemon) => ({ socket: daemon.socket, tag: daemon.tag })),
    firmwareConfig: [
      { name: "opt/heyvm/env", file: files.env },
      { name: "opt/heyvm/authorized_keys", file: files.authorizedKeys },
      { name: "opt/heyvm/ssh_host_ed25519_key", file: files.hostKey },
      { name: "opt/heyvm/gitconfig", file: files.gitconfig },
    ],
    network: networkMode(spec) !== "none",
    passtSocket,
  });
  const xmlPath = join(dir.root, LIBVIRT_FILES.domainXml);
  writeFileSync(xmlPath, xml);

  let serialText = "";
  const serial = followSerial(serialLog, (text) => {
    serialText += text;
    context.console(text);
  });
  const stopFollowing = serial.stop;
  const session = new VirshSession();
  const endpoint = { host: "127.0.0.1", port, user: "heyo" };
  const cleanupOnFailure = async () => {
    stopFollowing();
    session.send(`destroy ${name}`);
    await session.close();
    passt?.kill("SIGKILL");
    endShares();
    await releaseVmHost(spec.id);
  };
  try {
    const started = Date.now();
    reporter.info(`creating domain ${name} (${kvm.usable ? "kvm" : "tcg"}), ssh on 127.0.0.1:${port}`);
    await session.command(`create --autodestroy ${virshQuote(xmlPath)}`, /Domain .* created/, 120_000);
    boundQemu(hostBounds, qemuPid(name), reporter);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    const stoppedWhileStarting = () => {
      if (context.signal.aborted) throw new OperationFailedError("stopped while starting");
    };
    while (!serialText.includes("HEYVM_READY")) {
      stoppedWhileStarting();
      if (serialText.includes("HEYVM_FAILED")) throw new OperationFailedError(`the guest failed to start: ${/HEYVM_FAILED[^\n]*/.exec(serialText)?.[0] ?? ""}`);
      if (Date.now() > deadline) throw new TimeoutError(`the guest did not print HEYVM_READY within ${READY_TIMEOUT_MS / 1000} s`);
      if (Date.now() - started > 5000 && !alive(qemuPid(name))) throw new OperationFailedError("QEMU exited during boot (see the console output above)");
      await new Promise((resolve) => setTimeout(resolve, SERIAL_POLL_MS));
    }
    reporter.info(`guest ready after ${((Date.now() - started) / 1000).toFixed(1)} s; checking SSH`);
    for (;;) {
      stoppedWhileStarting();
      const probeResult = await sshRun(dir, endpoint, "true", 20_000);
      if (probeResult.code === 0) break;
      if (Date.now() > deadline) throw new TimeoutError(`SSH to the guest did not work: ${probeResult.stderr.trim()}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    reporter.info(`ssh ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (error) {
    await cleanupOnFailure();
    throw error;
  }

  const pid = qemuPid(name);
  let stopping = false;
  const exited = new Promise<string>((resolve) => {
    const timer = setInterval(() => {
      if (!alive(pid)) {
        clearInterval(timer);
        stopFollowing();
        void closeSshMaster(dir, endpoint);
        resolve(stopping ? "stopped" : "the virtual machine powered off or crashed");
      }
    }, 500);
    void session.exited.then(() => {
      if (!stopping) {
        clearInterval(timer);
        stopFollowing();
        resolve("the virsh session holding the domain ended");
      }
    });
  });
  return {
    info: { guestIp: GUEST_IP, ssh: endpoint, machine: libvirtMachineRecord({
        passtPid: passt?.pid ?? null,
        domain: name,
        uri: libvirtUri(),
        accel: kvm.usable ? "kvm" : "tcg",
        qemuPid: pid ?? null,
        // what bounds the host-side processes (QEMU, virtiofsd, passt), for get
        limits: { values: { pids: hostBounds.limits.pids, memoryMiB: hostBounds.limits.memoryMiB, cpus: hostBounds.limits.cpus }, set: hostBounds.set, notSet: hostBounds.notSet },
        // guest port → the 127.0.0.1 port that reaches it (read back by portEndpoint)
        forwards: forwardsRecord(forwards),
      }),
    },
    exited,
    async stop(graceMs: number) {
      stopping = true;
      await shutDownDomain(dir, endpoint, name, pid, graceMs, reporter);
      await session.close();
      stopFollowing();
      passt?.kill("SIGKILL"); // it quits by itself once QEMU has let go; this is for a QEMU that did not
      endShares(); // the same for virtiofsd
      await releaseVmHost(spec.id);
    },
    handover() {
      const virshProcess = session.handover();
      return {
        child: { pid: virshProcess.pid, name: "virsh" },
        keepFds: [virshProcess.stdin],
        consoleFds: [],
        drainFds: virshProcess.output,
        watch: pid === undefined ? null : { pid, reason: "the virtual machine powered off or crashed" },
        follow: { path: serialLog, offset: serial.offset() },
      };
    },
  };
}

/** The graceful part of a stop, from what owner.json records (the monitor then ends virsh). */
async function shutDownGracefully(access: MachineAccess, graceMs: number, reporter: Reporter): Promise<void> {
  const machine = readLibvirtMachine(access.owner);
  if (machine.domain === null || !access.owner.ssh) return;
  await shutDownDomain(access.dir, access.owner.ssh, machine.domain, machine.qemuPid ?? undefined, graceMs, reporter);
  for (const released of await releaseVmHost(access.spec.id)) reporter.info(`released ${released}`);
}

/** A domain left by an owner that was killed before virsh could close. */
async function reapOrphans(_home: HeyoHome, dir: SandboxDir): Promise<string[]> {
  const name = domainName(dir.id);
  const cleaned: string[] = [];
  const state = await virsh(["domstate", name], 30_000).catch(() => undefined);
  if (state?.code === 0) {
    await virsh(["destroy", name], 60_000);
    cleaned.push(`domain ${name} (${state.stdout.trim()})`);
  }
  const control = sshMaterial(dir).controlPath;
  if (existsSync(control)) {
    // a shared SSH connection whose owner was killed: ask its master process to exit
    await closeSshMaster(dir, { host: "127.0.0.1", port: 22, user: "heyo" });
    cleaned.push("shared SSH connection");
  }
  cleaned.push(...(await releaseVmHost(dir.id)));
  return cleaned;
}

/**
 * The guest lives inside QEMU's user-mode network, so its ports are reached only through the
 * forwards it got at boot (one per port the sandbox asked for, on 127.0.0.1), never its address.
 */
function portEndpoint(access: MachineAccess, guestPort: number): HostEndpoint | undefined {
  return recordedForward(access, guestPort);
}

function endpointOf(access: MachineAccess): SshEndpoint {
  if (!access.owner.ssh) throw new OperationFailedError(`sandbox ${access.spec.id} has no SSH endpoint recorded`, "restart it with `heyvm stop` and `heyvm wt --detach`");
  return access.owner.ssh;
}

export const libvirtBackend: Backend & ImagePreparer & SandboxPreparer & OrphanReaper & GracefulStopper & PortReacher = {
  name: "libvirt",
  features: { workspace: "virtiofs", virtualMachine: true, images: true, networkIsolation: true },
  probe,
  boot,
  prepareImage,
  prepareSandbox,
  reapOrphans,
  shutDownGracefully,
  portEndpoint,
  shellCommand: (access, options) => sshShell(access.dir, endpointOf(access), options),
  execRecipe: (access) => sshExecRecipe(access.dir, endpointOf(access)),
};

