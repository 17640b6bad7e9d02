// Boots a firecracker-format image folder under QEMU's `microvm` machine, the closest machine
// model to Firecracker available here: its exact kernel, initrd and rootfs (read-only, under a
// throw-away qcow2 overlay), virtio-mmio devices found through ACPI, the sandbox's settings as a
// tar archive on the second drive (what Firecracker can hand a guest), user-mode networking with
// SSH forwarded to 127.0.0.1. Under software emulation the kernel is told the TSC frequency,
// which it otherwise cannot calibrate on this machine model.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isAlive, waitFor } from "./env.js";
import { freePort } from "../../src/shared/free-port.js";

export interface MicroVm {
  qemu: ChildProcess;
  serial(): string;
  /** Runs a command as heyo over SSH (pinned host key). */
  ssh(command: string): { code: number | null; stdout: string; stderr: string };
  stop(): Promise<void>;
}


function tscKhz(): number | undefined {
  const mhz = /^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1];
  return mhz ? Math.round(Number(mhz) * 1000) : undefined;
}

function run(file: string, args: string[], cwd?: string): void {
  const result = spawnSync(file, args, { cwd, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${file} ${args.join(" ")}: ${result.stderr}`);
}

/** Boots imageDir (a firecracker-format image) in scratch; resolves once QEMU runs. */
export async function bootMicroVm(imageDir: string, scratch: string, kvm: boolean): Promise<MicroVm> {
  const manifest = JSON.parse(readFileSync(join(imageDir, "image.json"), "utf8")) as { files: Record<string, string>; details: { boot: { cmdline: string } } };
  mkdirSync(join(scratch, "config"), { recursive: true });
  for (const key of ["client", "hostkey"]) if (!existsSync(join(scratch, key))) run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(scratch, key)]);
  copyFileSync(join(scratch, "client.pub"), join(scratch, "config", "authorized_keys"));
  copyFileSync(join(scratch, "hostkey"), join(scratch, "config", "ssh_host_ed25519_key"));
  writeFileSync(join(scratch, "config", "env"), "HEYVM_UID=1000\nHEYVM_GID=1000\nHEYVM_HOSTNAME=microvm-test\n");
  run("tar", ["-cf", join(scratch, "config.tar"), "env", "authorized_keys", "ssh_host_ed25519_key"], join(scratch, "config"));
  const overlay = join(scratch, "root.qcow2");
  run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", join(imageDir, manifest.files.rootfs ?? ""), "-F", "raw", overlay]);
  const port = await freePort();
  const khz = kvm ? undefined : tscKhz();
  const append = [manifest.details.boot.cmdline, khz ? `tsc_early_khz=${khz}` : ""].filter(Boolean).join(" ");
  const serialLog = join(scratch, "serial.log");
  writeFileSync(serialLog, "");
  const qemu = spawn("qemu-system-x86_64", [
    "-machine", "microvm,x-option-roms=off,isa-serial=on,rtc=on",
    "-accel", kvm ? "kvm" : "tcg",
    "-cpu", kvm ? "host" : "max",
    "-m", "1024", "-smp", "1",
    "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
    "-kernel", join(imageDir, manifest.files.kernel ?? ""),
    ...(manifest.files.initrd ? ["-initrd", join(imageDir, manifest.files.initrd)] : []),
    "-append", append,
    "-serial", `file:${serialLog}`,
    "-device", "i8042",
    // Firecracker makes the root drive /dev/vda and the next one /dev/vdb, in this order
    "-drive", `id=root,file=${overlay},format=qcow2,if=none`, "-device", "virtio-blk-device,drive=root",
    "-drive", `id=config,file=${join(scratch, "config.tar")},format=raw,if=none,readonly=on`, "-device", "virtio-blk-device,drive=config",
    "-netdev", `user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:${port}-:22`, "-device", "virtio-net-device,netdev=net0",
  ], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  qemu.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const knownHosts = join(scratch, "known_hosts");
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${readFileSync(join(scratch, "hostkey.pub"), "utf8").split(" ").slice(0, 2).join(" ")}\n`);
  chmodSync(join(scratch, "client"), 0o600);
  const serial = () => readFileSync(serialLog, "utf8") + (stderr ? `\n[qemu stderr] ${stderr}` : "");
  return {
    qemu,
    serial,
    ssh(command) {
      const result = spawnSync("ssh", ["-F", "/dev/null", "-i", join(scratch, "client"), "-o", "IdentitiesOnly=yes", "-o", `UserKnownHostsFile=${knownHosts}`, "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=20", "-o", "BatchMode=yes", "-p", String(port), "heyo@127.0.0.1", command], { encoding: "utf8", timeout: 120_000 });
      return { code: result.status, stdout: result.stdout, stderr: result.stderr };
    },
    async stop() {
      if (qemu.pid === undefined || !isAlive(qemu.pid)) return;
      qemu.kill("SIGTERM");
      await waitFor(() => qemu.exitCode !== null || qemu.signalCode !== null, 10_000, "QEMU to exit").catch(() => qemu.kill("SIGKILL"));
    },
  };
}
