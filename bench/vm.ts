// VM figures (issue 3): boot-to-ready of `heyvm wt --detach --backend libvirt` against booting
// the same kernel, initrd, image and shares with a bare qemu-system command (same script, same
// machine), and `heyvm exec <id> -- true` against a bare ssh to the same guest.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { median, row, timeCommand, until } from "./lib.js";

const HEYVM = fileURLToPath(new URL("../../bin/heyvm", import.meta.url));
const HOME = process.env.BENCH_HEYO_HOME ?? "/tmp/heyvm-bench-vm"; // kept between runs: the image is reused
const BOOTS = Number(process.env.BENCH_BOOTS ?? 3);
const EXECS = Number(process.env.BENCH_RUNS ?? 15);
const env = { ...process.env, HEYO_HOME: HOME };

function sh(cmd: string, cwd = HOME): string {
  const result = spawnSync("sh", ["-c", cmd], { cwd, env, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${cmd}: ${result.stderr}`);
  return result.stdout.trim();
}

function sshArgs(sandbox: string, port: number, mux: string | null): string[] {
  const ssh = join(sandbox, "ssh");
  return [
    "-F", "/dev/null", "-i", join(ssh, "id_ed25519"), "-o", "IdentitiesOnly=yes", "-o", `UserKnownHostsFile=${join(ssh, "known_hosts")}`,
    "-o", "StrictHostKeyChecking=yes", "-o", `HostKeyAlias=heyvm-${sandbox.split("/").pop() ?? ""}`, "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
    ...(mux ? ["-o", "ControlMaster=auto", "-o", `ControlPath=${mux}`, "-o", "ControlPersist=60"] : []),
    "-p", String(port), "heyo@127.0.0.1", "true",
  ];
}

/** Boots the sandbox's own disk, kernel and config with a bare QEMU + virtiofsd; ms to ready and to ssh. */
async function bareBoot(sandbox: string, image: string, workspace: string, gitDir: string): Promise<{ ready: number; ssh: number }> {
  const work = join(HOME, "bare");
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", "-b", join(image, "rootfs.qcow2"), "-F", "qcow2", join(work, "disk.qcow2")]);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const children: ChildProcess[] = [];
  const started = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e6;
  try {
    for (const [tag, source] of [["workspace", workspace], ["gitdir", gitDir]]) {
      children.push(spawn("/usr/lib/qemu/virtiofsd", [`--socket-path=${join(work, `${tag}.sock`)}`, "-o", `source=${source}`, "-o", "cache=auto", "-o", "xattr"], { stdio: "ignore" }));
    }
    await until(() => existsSync(join(work, "workspace.sock")) && existsSync(join(work, "gitdir.sock")), 10_000, "virtiofsd sockets");
    const guest = join(sandbox, "guest");
    const serial = join(work, "serial.log");
    const qemu = spawn("qemu-system-x86_64", [
      "-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", "1024", "-nodefaults", "-no-user-config", "-display", "none", "-machine", "q35",
      "-kernel", join(image, "vmlinux"), "-initrd", join(image, "initrd"), "-append", "console=ttyS0 root=/dev/vda rootflags=rw quiet panic=-1",
      "-chardev", `file,id=ser0,path=${serial}`, "-serial", "chardev:ser0",
      ...["env", "authorized_keys", "ssh_host_ed25519_key", "gitconfig"].flatMap((item) => ["-fw_cfg", `name=opt/heyvm/${item},file=${join(guest, item)}`]),
      "-netdev", `user,id=n0,restrict=off,hostfwd=tcp:127.0.0.1:${port}-:22`, "-device", "virtio-net-pci,netdev=n0",
      "-drive", `file=${join(work, "disk.qcow2")},if=none,id=d0,format=qcow2,discard=unmap`, "-device", "virtio-blk-pci,drive=d0", "-device", "virtio-rng-pci",
      "-object", "memory-backend-memfd,id=mem,size=1024M,share=on", "-numa", "node,memdev=mem",
      ...["workspace", "gitdir"].flatMap((tag) => ["-chardev", `socket,id=${tag},path=${join(work, `${tag}.sock`)}`, "-device", `vhost-user-fs-pci,chardev=${tag},tag=${tag}`]),
    ], { stdio: "ignore" });
    children.push(qemu);
    await until(() => existsSync(serial) && readFileSync(serial, "utf8").includes("HEYVM_READY"), 300_000, "HEYVM_READY from bare QEMU");
    const ready = elapsed();
    for (;;) {
      const probe = spawnSync("ssh", sshArgs(sandbox, port, null), { stdio: "ignore", timeout: 20_000 });
      if (probe.status === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { ready, ssh: elapsed() };
  } finally {
    for (const child of children.reverse()) child.kill("SIGKILL");
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

async function main(): Promise<void> {
  mkdirSync(HOME, { recursive: true });
  const repo = join(HOME, "repo");
  if (!existsSync(repo)) {
    mkdirSync(repo);
    sh("git init -q && git -c user.email=b@b -c user.name=b commit -q --allow-empty -m init", repo);
  }
  console.log(`heyvm VM benchmark (libvirt, ${BOOTS} boots each, ${EXECS} execs; medians)\n`);
  // First call builds the image if needed and prepares the sandbox; not counted.
  const id = sh(`${HEYVM} wt bench/vm --backend libvirt --detach -q`, repo);
  sh(`${HEYVM} stop ${id}`, repo);
  const sandbox = join(HOME, "sandboxes", id);
  const spec = JSON.parse(readFileSync(join(sandbox, "sandbox.json"), "utf8")) as { workspace: string; mounts: Array<{ host: string }> };
  const image = join(HOME, "images", "libvirt", "default");

  const heyvmBoots: number[] = [];
  const bareReady: number[] = [];
  const bareSsh: number[] = [];
  for (let i = 0; i < BOOTS; i++) {
    const start = process.hrtime.bigint();
    sh(`${HEYVM} wt bench/vm --detach -q`, repo);
    heyvmBoots.push(Number(process.hrtime.bigint() - start) / 1e6);
    sh(`${HEYVM} stop ${id}`, repo);
    const bare = await bareBoot(sandbox, image, spec.workspace, spec.mounts[0]?.host ?? spec.workspace);
    bareReady.push(bare.ready);
    bareSsh.push(bare.ssh);
  }

  sh(`${HEYVM} wt bench/vm --detach -q`, repo);
  const owner = JSON.parse(readFileSync(join(sandbox, "owner.json"), "utf8")) as { ssh: { port: number } };
  const exec = median(timeCommand([HEYVM, "exec", id, "--", "true"], EXECS, env));
  const plainSsh = median(timeCommand(["ssh", ...sshArgs(sandbox, owner.ssh.port, null)], EXECS, env));
  const mux = join(HOME, "bench-mux");
  const muxSsh = median(timeCommand(["ssh", ...sshArgs(sandbox, owner.ssh.port, mux)], EXECS, env));
  spawnSync("ssh", ["-o", `ControlPath=${mux}`, "-O", "exit", "heyo@127.0.0.1"], { stdio: "ignore" });
  const baseline = median(timeCommand(["node", "-e", "0"], EXECS, env));
  sh(`${HEYVM} stop ${id}`, repo);

  const boot = median(heyvmBoots);
  console.log(row("bare qemu-system: launch → HEYVM_READY", `${median(bareReady).toFixed(0)} ms`));
  console.log(row("bare qemu-system: launch → first ssh true", `${median(bareSsh).toFixed(0)} ms`, "(the baseline for heyvm's ready)"));
  console.log(row("heyvm wt --detach --backend libvirt → ready", `${boot.toFixed(0)} ms`, `${(((boot / median(bareSsh)) - 1) * 100).toFixed(0)}% over bare (target < 15%)`));
  console.log(row("bare ssh … true (new connection each time)", `${plainSsh.toFixed(0)} ms`));
  console.log(row("bare ssh … true (ControlMaster connection)", `${muxSsh.toFixed(0)} ms`));
  console.log(row("heyvm exec <id> -- true", `${exec.toFixed(0)} ms`, `${(exec / plainSsh).toFixed(2)}× bare ssh, ${(exec / muxSsh).toFixed(2)}× shared-connection ssh (target < 1.3×)`));
  console.log(row("  node -e 0 (heyvm's floor as a node CLI)", `${baseline.toFixed(0)} ms`));
  writeFileSync(join(HOME, "last-run.txt"), new Date().toISOString());
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
