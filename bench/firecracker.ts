// Firecracker figures (issue 12), measured on heyvm's QEMU STAND-IN for Firecracker (no
// Firecracker binary, no KVM that boots a stock kernel here): boot-to-ready of `heyvm wt --detach
// --backend firecracker` against booting the same kernel, initrd, rootfs and config drive with a
// bare QEMU microvm command and then doing by hand what heyvm's ready means (first ssh, and
// /workspace mounted with sshfs from heyvm's confined sftp-server), with the stand-in's own
// start-up (node, which real Firecracker does in milliseconds) shown apart; `heyvm exec <id> -- true` against bare ssh over the same vsock
// transport; and `git status` in a 10,000-file worktree through /workspace (sshfs over vsock)
// against libvirt's virtiofs, timed inside each guest. Same script, same machine, medians.
// The firecracker sandbox runs with --no-network, like the bare command: as root heyvm would
// otherwise make it a TAP with NAT on this machine, which a benchmark must not do.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeStandInExecutable } from "../test/helpers/stand-in-bin.js";
import { SSH_RETRY_MS, WAIT_FOR_WORKSPACE, WORKSPACE_RETRY_MS } from "../src/backends/firecracker/backend.js";
import { confinedSftpServer } from "../src/backends/firecracker/host-side.js";
import { sandboxHostUser } from "../src/backends/host-ids.js";
import { GUEST_VSOCK_PORTS } from "../src/images/firecracker/files.js";
import { heyoHome } from "../src/state/home.js";
import { readSpec } from "../src/state/records.js";
import { SandboxDir } from "../src/state/sandbox-dir.js";
import { median, row, timeCommand, until } from "./lib.js";

const HEYVM = fileURLToPath(new URL("../../bin/heyvm", import.meta.url));
const HELPER = fileURLToPath(new URL("../../build/Release/heyvm-vsock-connect", import.meta.url));
const HOME = process.env.BENCH_HEYO_HOME ?? "/tmp/heyvm-bench-fc"; // kept between runs: the images are reused
const BOOTS = Number(process.env.BENCH_BOOTS ?? 3);
const EXECS = Number(process.env.BENCH_RUNS ?? 15);
const FILES = Number(process.env.BENCH_FILES ?? 10_000);
const STATUS_RUNS = Number(process.env.BENCH_STATUS_RUNS ?? 3);
mkdirSync(HOME, { recursive: true });
const env: NodeJS.ProcessEnv = { ...process.env, HEYO_HOME: HOME, HEYVM_FIRECRACKER: writeStandInExecutable(HOME) };

function sh(cmd: string, cwd = HOME): string {
  const result = spawnSync("sh", ["-c", cmd], { cwd, env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${cmd}: ${result.stderr}`);
  return result.stdout.trim();
}

function sshArgs(sandbox: string, transport: string[], mux: string | null, remote = "true"): string[] {
  const ssh = join(sandbox, "ssh");
  return [
    "-F", "/dev/null", "-i", join(ssh, "id_ed25519"), "-o", "IdentitiesOnly=yes", "-o", `UserKnownHostsFile=${join(ssh, "known_hosts")}`,
    "-o", "StrictHostKeyChecking=yes", "-o", `HostKeyAlias=heyvm-${sandbox.split("/").pop() ?? ""}`, "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
    ...(mux ? ["-o", "ControlMaster=auto", "-o", `ControlPath=${mux}`, "-o", "ControlPersist=60"] : []),
    ...transport, "heyo@vsock", remote,
  ];
}

function hostTscKhz(): string {
  const mhz = /^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1];
  return mhz ? ` tsc_early_khz=${Math.round(Number(mhz) * 1000)}` : "";
}

function exitCode(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once("exit", (code) => resolve(code ?? 1));
    child.once("error", () => resolve(1));
  });
}

/**
 * The stand-in's QEMU command for this sandbox, run bare, and then by hand what heyvm's "ready"
 * means. "ssh": ms to HEYVM_READY and to a first `ssh true`. "workspace": ms to HEYVM_READY and
 * until /workspace is mounted and seen over ssh, done as heyvm does it: at READY the bench connects
 * the guest's /workspace port and runs heyvm's own bubblewrap-confined sftp-server on that
 * connection (the guest mounts it with sshfs), and at the same time opens the first (shared,
 * ControlMaster) ssh connection, which runs heyvm's wait-for-/workspace script. The carrier is
 * the stand-in's, an isolated user-mode NIC with host forwards, reached straight over TCP: the
 * stand-in's relay from the hybrid-vsock socket to it (in place of Firecracker's vsock device)
 * is not in the bare figure.
 */
async function bareBoot(sandbox: string, image: string, mode: "ssh" | "workspace"): Promise<{ ready: number; done: number }> {
  const work = join(HOME, "bare");
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  spawnSync("cp", ["--sparse=always", join(sandbox, "rootfs.ext4"), join(work, "rootfs.ext4")]);
  copyFileSync(join(sandbox, "config.tar"), join(work, "config.tar"));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const workspacePort = port + 1;
  let serial = "";
  const started = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e6;
  const qemu: ChildProcess = spawn("qemu-system-x86_64", [
    "-machine", "microvm,x-option-roms=off,isa-serial=on,rtc=on", "-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", "1024",
    "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
    "-kernel", join(image, "vmlinux"), "-initrd", join(image, "initrd"),
    "-append", `console=ttyS0 reboot=k panic=1 pci=off root=/dev/vda rw rootfstype=ext4 init=/init.sh heyvm.vsock=tcp${hostTscKhz()}`,
    "-chardev", "stdio,id=serial,signal=off", "-serial", "chardev:serial", "-device", "i8042",
    "-drive", `id=drive0,file=${join(work, "rootfs.ext4")},format=raw,if=none`, "-device", "virtio-blk-device,drive=drive0",
    "-drive", `id=drive1,file=${join(work, "config.tar")},format=raw,if=none,readonly=on`, "-device", "virtio-blk-device,drive=drive1",
    "-netdev", `user,id=vsock,restrict=on,hostfwd=tcp:127.0.0.1:${port}-:${GUEST_VSOCK_PORTS.ssh},hostfwd=tcp:127.0.0.1:${workspacePort}-:${GUEST_VSOCK_PORTS.workspace}`,
    "-device", "virtio-net-device,netdev=vsock",
  ], { stdio: ["pipe", "pipe", "ignore"] });
  qemu.stdout?.setEncoding("utf8").on("data", (chunk: string) => (serial += chunk));
  const mux = join(work, "mux");
  const channels: ChildProcess[] = [];
  let mounted = false;
  try {
    await until(() => serial.includes("HEYVM_READY"), 300_000, "HEYVM_READY from bare QEMU");
    const ready = elapsed();
    if (mode === "workspace") {
      const spec = readSpec(new SandboxDir(heyoHome(env), sandbox.split("/").pop() ?? ""));
      if (!spec) throw new Error(`no sandbox.json in ${sandbox}`);
      const guest = join(sandbox, "guest");
      // the same host user the sandbox's own boot used (its slot, when heyvm is root)
      const sftpArgv = confinedSftpServer(spec, { passwd: join(guest, "sftp-passwd"), group: join(guest, "sftp-group") }, await sandboxHostUser(new SandboxDir(heyoHome(env), spec.id)));
      // bash connects the port and execs the confined sftp-server on it, as heyvm-vsock-connect --exec does on vsock
      const openChannel = () => {
        const log = openSync(join(work, "sftp.log"), "a");
        const channel = spawn("bash", ["-c", 'exec 3<>"/dev/tcp/127.0.0.1/$0" && exec "$@" <&3 >&3 3>&-', String(workspacePort), ...sftpArgv], { stdio: ["ignore", "ignore", log] });
        closeSync(log);
        channels.push(channel);
        channel.once("exit", () => {
          if (!mounted) setTimeout(() => mounted || openChannel(), WORKSPACE_RETRY_MS);
        });
      };
      openChannel();
    }
    const remote = mode === "workspace" ? WAIT_FOR_WORKSPACE : "true";
    const args = sshArgs(sandbox, ["-p", String(port)], mode === "workspace" ? mux : null, remote).map((arg) => (arg === "heyo@vsock" ? "heyo@127.0.0.1" : arg));
    for (;;) {
      if ((await exitCode(spawn("ssh", ["-T", ...args], { stdio: "ignore" }))) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, mode === "workspace" ? SSH_RETRY_MS : 100));
    }
    mounted = true;
    return { ready, done: elapsed() };
  } finally {
    mounted = true;
    if (mode === "workspace") spawnSync("ssh", ["-o", `ControlPath=${mux}`, "-O", "exit", "heyo@127.0.0.1"], { stdio: "ignore" });
    for (const channel of channels) channel.kill("SIGKILL");
    qemu.kill("SIGKILL");
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

/**
 * Where a heyvm boot's time went, from the owner log's timestamps: until the owner runs, until
 * Firecracker (the stand-in) is spawned, its API calls and QEMU's start, the guest's boot to
 * HEYVM_READY, READY to SSH and /workspace, and the hand-over until wt returned.
 */
function bootPhases(log: string, startedAt: number, endedAt: number): Record<string, number> {
  const lines = readFileSync(log, "utf8").split("\n");
  const at = (pattern: RegExp): number | undefined => {
    for (let i = lines.length - 1; i >= 0; i--) {
      const line = lines[i] ?? "";
      if (pattern.test(line)) {
        const time = Date.parse(line.slice(0, 24));
        return time >= startedAt ? time : undefined;
      }
    }
    return undefined;
  };
  const marks: Array<[string, number | undefined]> = [
    ["wt → owner started", at(/owner: owner \d+ starting sandbox/)],
    ["owner → Firecracker spawned", at(/owner: starting .* API on/)],
    [STAND_IN_START, at(/API socket is listening after/)],
    ["API calls + QEMU start", at(/configured and started in/)],
    ["guest boot → HEYVM_READY", at(/console: HEYVM_READY/)],
    ["READY → ssh + /workspace", at(/ssh and \/workspace ready/)],
    ["hand-over → wt returns", endedAt],
  ];
  const result: Record<string, number> = {};
  let previous = startedAt;
  for (const [name, time] of marks) {
    if (time === undefined) continue;
    result[name] = time - previous;
    previous = time;
  }
  return result;
}

/** The boot phase that is the stand-in's own start-up (node), which real Firecracker does in milliseconds. */
const STAND_IN_START = "spawn → API socket listening (the stand-in's)";

/** `git status` timed inside the guest (ms), runs times; the first run is the cold one. */
function guestGitStatus(id: string, runs: number): number[] {
  const script = 's=$(date +%s%N); git status --porcelain >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 ))';
  return Array.from({ length: runs }, () => Number(sh(`${HEYVM} exec ${id} -- sh -c '${script}'`)));
}

function hostGitStatus(worktree: string, runs: number): number[] {
  return Array.from({ length: runs }, () => {
    const start = process.hrtime.bigint();
    sh("git status --porcelain >/dev/null", worktree);
    return Number(process.hrtime.bigint() - start) / 1e6;
  });
}

function fill(worktree: string): void {
  if (existsSync(join(worktree, "many", "d99", "f99.txt"))) return;
  for (let d = 0; d < 100; d++) {
    mkdirSync(join(worktree, "many", `d${d}`), { recursive: true });
    for (let f = 0; f < FILES / 100; f++) writeFileSync(join(worktree, "many", `d${d}`, `f${f}.txt`), `${d}/${f}\n`);
  }
  sh("git add many && git -c user.email=b@b -c user.name=b commit -qm files", worktree);
}

function libvirtSkip(): string | undefined {
  const uri = spawnSync("virsh", ["-c", "qemu:///system", "uri"], { encoding: "utf8", timeout: 30_000 });
  return uri.status === 0 ? undefined : `libvirtd is not reachable (${(uri.stderr ?? "").trim() || "virsh failed"})`;
}

async function main(): Promise<void> {
  const repo = join(HOME, "repo");
  if (!existsSync(repo)) {
    mkdirSync(repo);
    sh("git init -q -b main && git -c user.email=b@b -c user.name=b commit -q --allow-empty -m init", repo);
  }
  console.log(`heyvm firecracker benchmark on the QEMU STAND-IN (TCG), ${BOOTS} boots each, ${EXECS} execs, git status over ${FILES} files; medians\n`);
  const id = sh(`${HEYVM} wt bench/fc --backend firecracker --detach --no-network -q`, repo); // builds the image if needed; not counted
  sh(`${HEYVM} stop ${id}`, repo);
  const sandbox = join(HOME, "sandboxes", id);
  const image = join(HOME, "images", "firecracker", "default");

  const heyvmBoots: number[] = [];
  const heyvmLessStandIn: number[] = [];
  const bareReady: number[] = [];
  const bareSsh: number[] = [];
  const bareWorkspace: number[] = [];
  const only = process.env.BENCH_ONLY; // "status": only the git status comparison; "boot": all but it
  const phases: Record<string, number[]> = {};
  for (let i = 0; i < (only === "status" ? 0 : BOOTS); i++) {
    const startedAt = Date.now();
    const start = process.hrtime.bigint();
    sh(`${HEYVM} wt bench/fc --detach --no-network -q`, repo);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    heyvmBoots.push(ms);
    const phasesOfBoot = bootPhases(join(sandbox, "owner.log"), startedAt, Date.now());
    heyvmLessStandIn.push(ms - (phasesOfBoot[STAND_IN_START] ?? 0));
    for (const [phase, value] of Object.entries(phasesOfBoot)) (phases[phase] ??= []).push(value);
    sh(`${HEYVM} stop ${id}`, repo);
    const bare = await bareBoot(sandbox, image, "workspace");
    bareReady.push(bare.ready);
    bareWorkspace.push(bare.done);
    const bareFirstSsh = await bareBoot(sandbox, image, "ssh");
    bareReady.push(bareFirstSsh.ready);
    bareSsh.push(bareFirstSsh.done);
  }
  if (only !== "status") {
    const base = median(bareWorkspace);
    const over = (value: number) => `${((value / base - 1) * 100).toFixed(0)}% over bare (target < 10%)`;
    const boot = median(heyvmBoots);
    const lessStandIn = median(heyvmLessStandIn);
    console.log(row("bare QEMU microvm: launch → HEYVM_READY", `${median(bareReady).toFixed(0)} ms`));
    console.log(row("bare QEMU microvm: launch → first ssh true", `${median(bareSsh).toFixed(0)} ms`, "(no /workspace: not heyvm's ready)"));
    console.log(row("bare QEMU microvm: launch → ssh + /workspace", `${base.toFixed(0)} ms`, "(by hand: confined sftp-server, sshfs, shared ssh; the baseline for heyvm's ready)"));
    console.log(row("heyvm wt --detach (firecracker stand-in) → ready", `${boot.toFixed(0)} ms`, `${over(boot)}, the stand-in's start-up included`));
    console.log(row("  less the stand-in's own start-up", `${lessStandIn.toFixed(0)} ms`, `${over(lessStandIn)}, heyvm's own overhead`));
    for (const [phase, values] of Object.entries(phases)) console.log(row(`  of which ${phase}`, `${median(values).toFixed(0)} ms`, phase === STAND_IN_START ? "node starting the stand-in; not heyvm's (real Firecracker: milliseconds)" : ""));
  }

  sh(`${HEYVM} wt bench/fc --detach --no-network -q`, repo);
  const uds = join(sandbox, "vsock.sock");
  const transport = ["-o", `ProxyCommand=${HELPER} --fdpass ${uds} 22`, "-o", "ProxyUseFdpass=yes"];
  if (only !== "status") {
    const exec = median(timeCommand([HEYVM, "exec", id, "--", "true"], EXECS, env));
    const plainSsh = median(timeCommand(["ssh", ...sshArgs(sandbox, transport, null)], EXECS, env));
    const mux = join(HOME, "bench-mux");
    const muxSsh = median(timeCommand(["ssh", ...sshArgs(sandbox, transport, mux)], EXECS, env));
    spawnSync("ssh", ["-o", `ControlPath=${mux}`, "-O", "exit", "heyo@vsock"], { stdio: "ignore" });
    console.log(row("bare ssh … true over vsock (new connection)", `${plainSsh.toFixed(0)} ms`));
    console.log(row("bare ssh … true over vsock (ControlMaster)", `${muxSsh.toFixed(0)} ms`));
    console.log(row("heyvm exec <id> -- true", `${exec.toFixed(0)} ms`, `${(exec / plainSsh).toFixed(2)}× bare ssh, ${(exec / muxSsh).toFixed(2)}× shared-connection ssh`));
  }

  if (only === "boot") {
    sh(`${HEYVM} stop ${id}`, repo);
    return;
  }
  const cold = (values: number[]) => `${(values[0] ?? 0).toFixed(0)} ms cold`;
  const warm = (values: number[]) => `${median(values.length > 1 ? values.slice(1) : values).toFixed(0)} ms`;
  const worktree = JSON.parse(readFileSync(join(sandbox, "sandbox.json"), "utf8")) as { workspace: string };
  fill(worktree.workspace);
  const hostStatus = hostGitStatus(worktree.workspace, STATUS_RUNS);
  console.log(row(`git status, ${FILES} files, on the host`, warm(hostStatus), cold(hostStatus)));
  const fcStatus = guestGitStatus(id, STATUS_RUNS);
  console.log(row(`git status in firecracker (sshfs over vsock)`, warm(fcStatus), cold(fcStatus)));
  sh(`${HEYVM} stop ${id}`, repo);

  const skipLibvirt = libvirtSkip();
  if (skipLibvirt) {
    console.log(row("git status in libvirt (virtiofs)", "skipped", skipLibvirt));
    return;
  }
  const vm = sh(`${HEYVM} wt bench/fc --backend libvirt --detach -q`, repo);
  try {
    const libvirtStatus = guestGitStatus(vm, STATUS_RUNS);
    console.log(row(`git status in libvirt (virtiofs)`, warm(libvirtStatus), `${cold(libvirtStatus)}; firecracker/libvirt ${(median(fcStatus.length > 1 ? fcStatus.slice(1) : fcStatus) / median(libvirtStatus.length > 1 ? libvirtStatus.slice(1) : libvirtStatus)).toFixed(2)}× warm`));
  } finally {
    sh(`${HEYVM} stop ${vm}`, repo);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
