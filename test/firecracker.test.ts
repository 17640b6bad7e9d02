// End to end on the firecracker backend, verified on heyvm's QEMU STAND-IN for Firecracker
// (test/helpers/firecracker-stand-in.ts: Firecracker's API rules, then QEMU's microvm machine
// boots the configured kernel, rootfs and drives; vsock connections ride an isolated user-mode
// NIC). The guest side (image, /init.sh, sshd, sshfs) and heyvm's side (owner, API calls, SSH
// over hybrid vsock, the confined sftp-server) are real; Firecracker itself is not. The same
// checks as the libvirt tests: exec, /workspace both ways, sh with a terminal, stop, re-run,
// kill -9. `heyvm test-firecracker` is what verifies a real Firecracker on a KVM host.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { vsockHelper } from "../src/backends/firecracker/host-side.js";
import { RECORD_FILE, type RecordedRequest } from "./helpers/firecracker-stand-in.js";
import { writeStandInExecutable } from "./helpers/stand-in-bin.js";
import { HEYVM, hasCommand, idOf, isAlive, makeRepo, makeTestEnv, waitFor, type TestEnv } from "./helpers/env.js";
import { checkWorkspaceBothWays } from "./helpers/workspace.js";
import { createToken, loopbackUrl, startCloudServer } from "./helpers/cloud-server.js";
import { netnsMissing, startTestNetwork, type TestNetwork } from "./helpers/netns.js";
import { renderSelfTest } from "../src/cli/self-test-command.js";
import type { SelfTestReport } from "../src/core/self-test.js";

function skipReason(): string | false {
  if (process.platform !== "linux") return "firecracker tests need Linux";
  if (process.getuid?.() !== 0) return "firecracker tests need root (the default image is built with mmdebstrap and a chroot)";
  for (const tool of ["qemu-system-x86_64", "mmdebstrap", "ssh", "bwrap", "setpriv", "dumpe2fs"]) if (!hasCommand(tool)) return `${tool} is not installed (scripts/install.sh installs it)`;
  if (!["/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server"].some((path) => existsSync(path))) return "openssh-sftp-server is not installed";
  if (!vsockHelper()) return "build/Release/heyvm-vsock-connect is not built (npm run build)";
  // as root heyvm gives each sandbox a TAP with NAT: that must happen in a namespace of the test's
  const netns = netnsMissing();
  if (netns) return netns;
  if (!hasCommand("iptables")) return "iptables is not installed (the TAP network's NAT)";
  return false;
}

const skip = skipReason();

interface FirecrackerOwner {
  pid: number;
  backend: string;
  ssh: { host: string; port: number };
  machine: { firecrackerPid: number; apiSocket: string; vsockSocket: string; forwards: Record<string, number> };
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
  } catch {
    return "";
  }
}

/** What a guest hears on a TCP port, or nothing (bash's /dev/tcp: it never half-closes). */
const TCP_PROBE = (host: string, port: number) => ["timeout", "10", "bash", "-c", `exec 3<>/dev/tcp/${host}/${port} && cat <&3`];

// Every heyvm command runs in a network namespace standing in for the host (test/helpers/netns.ts):
// the TAP devices, addresses and NAT rules heyvm makes as root stay there, and the guest's
// "outside" is the peer namespace.
describe("heyvm wt on firecracker (QEMU stand-in)", { skip }, () => {
  let t: TestEnv;
  let network: TestNetwork;
  let prefix: string[] = [];
  const run = (args: string[], options: Parameters<TestEnv["run"]>[1] = {}) => t.run(args, { prefix, ...options });
  const inHost = (argv: string[]) => spawnSync(argv[0] ?? "", argv.slice(1), { encoding: "utf8" });
  let id = "";
  const branch = "fc/feature";
  const sandbox = () => join(t.home, "sandboxes", id);
  const owner = (): FirecrackerOwner => JSON.parse(readFileSync(join(sandbox(), "owner.json"), "utf8")) as FirecrackerOwner;
  const recorded = (): RecordedRequest[] => readFileSync(join(sandbox(), RECORD_FILE), "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line) as RecordedRequest);
  const worktree = () => join(t.root, "fc-feature");

  before(async () => {
    t = makeTestEnv("heyvm-fc-");
    t.env.HEYVM_FIRECRACKER = writeStandInExecutable(t.root);
    network = await startTestNetwork({ ownHost: true });
    prefix = network.wrap([]);
  });
  after(async () => {
    await t.cleanup();
    await network.cleanup(); // the namespace takes any TAP left in it along
  });

  test("wt --detach builds the firecracker image on first use, configures Firecracker through its API and boots", { timeout: 900_000 }, async () => {
    // on this machine's own network (the image build downloads Debian packages), so without one
    // for the sandbox: a TAP made here would be outside the test's namespaces
    const result = await t.run(["wt", branch, "--backend", "firecracker", "--detach", "--no-network"], { timeoutMs: 900_000 });
    assert.equal(result.code, 0, result.stderr);
    id = idOf(result.stdout);
    assert.match(result.stderr, /building the default firecracker image/);
    assert.doesNotMatch(result.stderr, /network: TAP/);
    const image = JSON.parse(readFileSync(join(t.home, "images", "firecracker", "default", "image.json"), "utf8")) as { files: Record<string, string>; checksums: Record<string, string> };
    assert.deepEqual(image.files, { kernel: "vmlinux", initrd: "initrd", rootfs: "rootfs.ext4" });
    for (const role of ["kernel", "initrd", "rootfs"]) assert.match(image.checksums[role] ?? "", /^[0-9a-f]{64}$/);
    const kernel = readFileSync(join(t.home, "images", "firecracker", "default", "vmlinux")).subarray(0, 4);
    assert.deepEqual([...kernel], [0x7f, 0x45, 0x4c, 0x46], "the kernel is an uncompressed ELF vmlinux");

    const record = owner();
    assert.equal(record.backend, "firecracker");
    assert.equal(record.ssh.host, "vsock");
    assert.match(cmdline(record.machine.firecrackerPid), /firecracker-stand-in\.js --api-sock firecracker\.sock --id sb-/);

    const api = recorded().filter((r) => r.kind === "api");
    assert.deepEqual(api.map((r) => `${r.method} ${r.path} ${r.status}`), [
      "PUT /logger 204", "PUT /boot-source 204", "PUT /drives/rootfs 204", "PUT /drives/config 204", "PUT /machine-config 204", "PUT /vsock 204", "PUT /actions 204",
    ]);
    const body = (path: string) => api.find((r) => r.path === path)?.body as Record<string, unknown>;
    assert.match(String(body("/boot-source").boot_args), /^console=ttyS0 reboot=k panic=1 pci=off root=\/dev\/vda rw rootfstype=ext4 init=\/init\.sh$/);
    assert.equal(body("/boot-source").kernel_image_path, join(t.home, "images", "firecracker", "default", "vmlinux"));
    const rootfs = String(body("/drives/rootfs").path_on_host);
    assert.equal(rootfs, join(sandbox(), "rootfs.ext4"), "the sandbox's own copy, never the image file");
    assert.notEqual(statSync(rootfs).ino, statSync(join(t.home, "images", "firecracker", "default", "rootfs.ext4")).ino);
    assert.ok(statSync(rootfs).blocks * 512 < statSync(rootfs).size / 2, "the copy is sparse");
    assert.equal(body("/drives/config").is_read_only, true);
    assert.deepEqual(body("/vsock"), { guest_cid: 3, uds_path: "vsock.sock" });
    assert.deepEqual(body("/actions"), { action_type: "InstanceStart" });
    assert.deepEqual(body("/machine-config"), { vcpu_count: 1, mem_size_mib: 1024, smt: false }, "the defaults without KVM");
    assert.ok(recorded().some((r) => r.kind === "vsock" && r.line === "CONNECT 22"), "ssh went over vsock");
    assert.ok(recorded().some((r) => r.kind === "vsock" && r.line === "CONNECT 10001"), "/workspace went over vsock");

    const logs = await t.run(["logs", id]);
    assert.match(logs.stdout, /console: HEYVM_READY/, "the serial console is in owner.log");
    assert.match(readlinkSync(`/proc/${record.pid}/exe`), /heyvm-owner-monitor$/, "the idle owner is the native monitor");
  });

  test("outbound network through the sandbox's own TAP: the outside answers, the host itself does not", { timeout: 400_000 }, async () => {
    // from here on heyvm runs in the namespace standing in for the host
    assert.equal((await t.run(["stop", id])).code, 0);
    const started = await run(["wt", branch, "--detach"], { timeoutMs: 400_000 });
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stderr, /network: TAP hv[0-9a-f]{8}, guest 172\.30\.\d+\.\d+ via 172\.30\.\d+\.\d+, outbound only/, "wt says which network the sandbox got");
    const tap = recorded().filter((r) => r.kind === "api" && r.path === "/network-interfaces/eth0").pop()?.body as { iface_id: string; host_dev_name: string; guest_mac: string };
    assert.deepEqual(tap, { iface_id: "eth0", host_dev_name: `hv${id.slice(3)}`, guest_mac: `06:00:${(id.slice(3).match(/../g) ?? []).join(":")}` });
    const peer = await run(["exec", id, "--", ...TCP_PROBE(network.peerAddress, network.peerPort)]);
    assert.equal(peer.stdout.trim(), "hello from the peer", peer.stderr);
    assert.match((await run(["exec", id, "--", "cat", "/etc/resolv.conf"])).stdout, new RegExp(`nameserver ${network.peerAddress.replace(/\./g, "\\.")}`), "the host's resolver");
    const gateway = (await run(["exec", id, "--", "busybox", "ip", "route", "show", "default"])).stdout.trim().split(/\s+/)[2] ?? "";
    assert.match(gateway, /^172\.30\./);
    const host = await run(["exec", id, "--", ...TCP_PROBE(gateway, network.hostOnlyPort ?? 1)]);
    assert.notEqual(host.code, 0, host.stdout);
    assert.doesNotMatch(host.stdout, /host-only/, "the host's own services are not reachable from the guest");
    const rules = inHost(["ip", "netns", "exec", network.hostNamespace ?? "", "iptables", "-S", "INPUT"]).stdout;
    assert.match(rules, new RegExp(`-A INPUT -i hv${id.slice(3)} .*heyvm-${id}.* -j DROP`));
  });

  test("exec runs over SSH on vsock in /workspace, keeping streams and exit codes apart", async () => {
    const result = await run(["exec", id, "--", "sh", "-c", "pwd; cat; echo err >&2; exit 5"], { input: "in\n" });
    assert.equal(result.code, 5, result.stderr);
    assert.equal(result.stdout, "/workspace\nin\n");
    assert.equal(result.stderr, "err\n");
    const killed = await run(["exec", id, "--", "sh", "-c", "kill -9 $$"]);
    assert.equal(killed.code, 137);
    const knownHosts = readFileSync(join(sandbox(), "ssh", "known_hosts"), "utf8");
    assert.match(knownHosts, new RegExp(`^heyvm-${id} ssh-ed25519 `), "the guest host key is pinned");
  });

  test("/workspace is the live worktree both ways; git works on the sandbox's own store, its commit reaches the host's branch, the host's git folder is out of reach", async () => {
    await checkWorkspaceBothWays(run, id, worktree(), { hostEditSeen: true });
    const git = await run(["exec", id, "--", "sh", "-c", "git add from-guest.txt && git commit -qm from-fc && git log -1 --format=%s && cat .git"]);
    assert.equal(git.code, 0, git.stderr);
    assert.equal(git.stdout, "from-fc\ngitdir: /heyvm/git\n");
    const hostSubject = () => spawnSync("git", ["-C", t.repo, "log", "-1", "--format=%s", branch], { encoding: "utf8" }).stdout.trim();
    await waitFor(() => hostSubject() === "from-fc", 30_000, "the guest's commit on the host's branch");
    const config = join(t.repo, ".git", "config");
    const planted = await run(["exec", id, "--", "sh", "-c", `echo '[core]' >> ${config}`]);
    assert.notEqual(planted.code, 0, "the repository's config cannot be written from inside");
    assert.doesNotMatch(readFileSync(config, "utf8"), /\[core\]\n$/);
    const gitFile = await run(["exec", id, "--", "sh", "-c", "echo 'gitdir: /tmp/evil' > /workspace/.git"]);
    assert.notEqual(gitFile.code, 0, "the worktree's .git cannot be written from inside");
    const objects = await run(["exec", id, "--", "sh", "-c", "rm -rf /heyvm/git/host-objects/*"]);
    assert.notEqual(objects.code, 0, "the host's objects are read-only inside");
    assert.equal(spawnSync("git", ["-C", t.repo, "fsck", "--no-dangling"], { encoding: "utf8" }).status, 0);
  });

  test("sh opens a login shell with a terminal", async () => {
    const pty = await import("node-pty");
    const term = pty.spawn(HEYVM, ["sh", id], { cols: 90, rows: 20, cwd: t.repo, env: { ...t.env } as Record<string, string>, name: "xterm" });
    let text = "";
    term.onData((d) => (text += d));
    const exited = new Promise<number>((resolve) => term.onExit(({ exitCode }) => resolve(exitCode)));
    try {
      term.write("tty; pwd; stty size\r");
      await waitFor(() => /\/dev\/pts\/\d+/.test(text) && /\/workspace/.test(text) && /20 90/.test(text), 60_000, "the terminal's answers");
      term.write("exit 3\r");
      assert.equal(await exited, 3);
    } finally {
      try {
        term.kill();
      } catch {
        // already exited
      }
    }
  });

  test("wt --detach again reuses the live owner", async () => {
    const before = owner().pid;
    const again = await run(["wt", branch, "--detach"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(idOf(again.stdout), id);
    assert.equal(owner().pid, before);
  });

  test("kill -9 of the owner leaves no Firecracker (nor its QEMU), and wt --detach recovers", { timeout: 400_000 }, async () => {
    const record = owner();
    const qemu = children(record.machine.firecrackerPid).filter((pid) => /qemu-system/.test(cmdline(pid)));
    assert.equal(qemu.length, 1, "the stand-in runs one QEMU");
    process.kill(record.pid, "SIGKILL");
    await waitFor(() => !isAlive(record.machine.firecrackerPid), 30_000, "Firecracker to go with its owner");
    await waitFor(() => qemu.every((pid) => !isAlive(pid)), 30_000, "QEMU to go with the stand-in");
    const list = JSON.parse((await run(["list", "--all", "--json"])).stdout) as Array<{ id: string; state: string }>;
    assert.equal(list.find((r) => r.id === id)?.state, "stopped");
    const again = await run(["wt", branch, "--detach"], { timeoutMs: 400_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.equal((await run(["exec", id, "--", "cat", "from-guest.txt"])).stdout, "guest\n");
  });

  test("a guest that powers off on its own is recorded, and its TAP is removed at once by the owner", { timeout: 400_000 }, async () => {
    const record = owner();
    const namespace = network.hostNamespace ?? "";
    const device = `hv${id.slice(3)}`;
    assert.equal(inHost(["ip", "-n", namespace, "link", "show", device]).status, 0, "the sandbox runs with its TAP");
    await run(["exec", id, "--", "poweroff"]);
    await waitFor(() => !isAlive(record.pid), 60_000, "the owner to exit after the guest powered off");
    assert.ok(!isAlive(record.machine.firecrackerPid));
    const rows = JSON.parse((await run(["list", "--all", "--json"])).stdout) as Array<{ id: string; state: string; last_exit: string }>;
    const row = rows.find((r) => r.id === id);
    assert.equal(row?.state, "stopped");
    assert.match(row?.last_exit ?? "", /machine ended on its own/);
    assert.match((await run(["logs", id])).stdout, /HEYVM_POWEROFF/, "the guest's init synced and unmounted first");
    // by the owner before it ended, not by the next start or stop
    assert.notEqual(inHost(["ip", "-n", namespace, "link", "show", device]).status, 0, "the TAP went with the machine");
    for (const table of ["nat", "filter"]) assert.doesNotMatch(inHost(["ip", "netns", "exec", namespace, "iptables", "-t", table, "-S"]).stdout, new RegExp(`heyvm-${id}`), `its ${table} rules too`);
    assert.match((await run(["logs", id])).stdout, /owner: cleaning up after the machine[\s\S]*removed TAP device hv[0-9a-f]{8} and its rules[\s\S]*exiting: machine ended on its own/);
  });

  test("stop sends Ctrl-Alt-Del and the guest shuts down cleanly; a damaged rootfs is recreated before the next boot", { timeout: 600_000 }, async () => {
    const started = await run(["wt", branch, "--detach"], { timeoutMs: 400_000 });
    assert.equal(started.code, 0, started.stderr);
    const record = owner();
    const logsBefore = (await run(["logs", id])).stdout.split("HEYVM_POWEROFF").length;
    const stop = await run(["stop", id]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.ok(!isAlive(record.machine.firecrackerPid));
    assert.ok(recorded().some((r) => r.kind === "api" && (r.body as { action_type?: string } | null)?.action_type === "SendCtrlAltDel" && r.status === 204));
    assert.equal((await run(["logs", id])).stdout.split("HEYVM_POWEROFF").length, logsBefore + 1, "graceful: the guest's init unmounted and rebooted");
    const namespace = network.hostNamespace ?? "";
    assert.notEqual(inHost(["ip", "-n", namespace, "link", "show", `hv${id.slice(3)}`]).status, 0, "the TAP went with the machine");
    for (const table of ["nat", "filter"]) assert.doesNotMatch(inHost(["ip", "netns", "exec", namespace, "iptables", "-t", table, "-S"]).stdout, new RegExp(`heyvm-${id}`), `its ${table} rules too`);
    const rootfs = join(sandbox(), "rootfs.ext4");
    writeFileSync(rootfs, "this is not an ext4 file system\n");
    const again = await run(["wt", branch, "--detach"], { timeoutMs: 400_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /rootfs\.ext4 is damaged .*recreating it/);
    assert.equal((await run(["exec", id, "--", "cat", "from-guest.txt"])).stdout, "guest\n", "the worktree survived");
    await run(["stop", id]);
  });

  test("unprivileged (not root, no CAP_NET_ADMIN): wt says the sandbox runs without network, and it still execs with /workspace", { timeout: 600_000 }, async (context) => {
    const nobody = spawnSync("id", ["-u", "nobody"], { encoding: "utf8" });
    const uid = Number(nobody.stdout.trim());
    if (nobody.status !== 0 || !uid) return context.skip("there is no user nobody to run heyvm as");
    // heyvm as the unprivileged user nobody, with a HEYO_HOME, HOME and repository of its own (the
    // image built above lent to it), still in the test's namespace standing in for the host
    const mine = mkdtempSync(join(tmpdir(), "heyvm-fc-nobody-"));
    const home = join(mine, "heyo");
    const repo = join(mine, "repo");
    const asNobody = [...prefix, "setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--inh-caps=-all", "--"];
    const env = { HEYO_HOME: home, HOME: mine, HEYVM_FIRECRACKER: writeStandInExecutable(mine) };
    const heyvm = (args: string[], timeoutMs = 120_000) => t.run(args, { prefix: asNobody, cwd: repo, env, timeoutMs });
    let sandboxId = "";
    try {
      makeRepo(repo);
      mkdirSync(join(home, "images", "firecracker"), { recursive: true });
      assert.equal(spawnSync("cp", ["-a", "--sparse=always", join(t.home, "images", "firecracker", "default"), join(home, "images", "firecracker", "default")]).status, 0);
      assert.equal(spawnSync("chown", ["-R", `${uid}:${uid}`, mine]).status, 0);
      chmodSync(mine, 0o755);
      const started = await heyvm(["wt", "fc/unprivileged", "--backend", "firecracker", "--detach"], 400_000);
      assert.equal(started.code, 0, started.stderr);
      sandboxId = idOf(started.stdout);
      assert.match(started.stderr, /this firecracker sandbox runs without network: heyvm has no privilege to make a TAP device \(it needs root or CAP_NET_ADMIN\)/);
      assert.doesNotMatch(started.stderr, /network: TAP/);
      const ownerRecord = JSON.parse(readFileSync(join(home, "sandboxes", sandboxId, "owner.json"), "utf8")) as FirecrackerOwner;
      const status = readFileSync(`/proc/${ownerRecord.pid}/status`, "utf8");
      assert.match(status, new RegExp(`^Uid:\\s+${uid}\\s`, "m"), "the owner runs as nobody");
      assert.equal(BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? "1"}`), 0n, "without any capability");
      const api = readFileSync(join(home, "sandboxes", sandboxId, RECORD_FILE), "utf8");
      assert.doesNotMatch(api, /network-interfaces/, "no TAP was given to Firecracker");
      assert.notEqual(inHost(["ip", "-n", network.hostNamespace ?? "", "link", "show", `hv${sandboxId.slice(3)}`]).status, 0, "and none was made");
      writeFileSync(join(mine, "fc-unprivileged", "from-host.txt"), "host\n");
      const inside = await heyvm(["exec", sandboxId, "--", "sh", "-c", "cat from-host.txt; id -u; echo guest > from-guest.txt"]);
      assert.equal(inside.code, 0, inside.stderr);
      assert.equal(inside.stdout, `host\n${uid}\n`, "exec runs, as heyo with nobody's uid, in /workspace");
      assert.equal(statSync(join(mine, "fc-unprivileged", "from-guest.txt")).uid, uid, "written inside, owned by nobody on the host");
      const stop = await heyvm(["stop", sandboxId]);
      assert.equal(stop.code, 0, stop.stderr);
    } finally {
      const ownerFile = join(home, "sandboxes", sandboxId, "owner.json");
      if (sandboxId && existsSync(ownerFile)) {
        const pid = (JSON.parse(readFileSync(ownerFile, "utf8")) as { pid: number }).pid;
        if (isAlive(pid)) process.kill(pid, "SIGKILL"); // its Firecracker (stand-in) dies with it
        await waitFor(() => !isAlive(pid), 30_000, "the owner to end").catch(() => undefined);
      }
      rmSync(mine, { recursive: true, force: true });
    }
  });

  test("--cpus and --memory go into Firecracker's machine-config, and the guest has them", { timeout: 600_000 }, async () => {
    const refused = await run(["wt", branch, "--pids", "64"]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /takes no --pids/);
    const started = await run(["wt", branch, "--detach", "--no-network", "--cpus", "2", "--memory", "768M"], { timeoutMs: 400_000 });
    assert.equal(started.code, 0, started.stderr);
    const config = recorded().filter((r) => r.kind === "api" && r.path === "/machine-config").pop();
    assert.deepEqual(config?.body, { vcpu_count: 2, mem_size_mib: 768, smt: false });
    assert.ok(!recorded().slice(-12).some((r) => r.kind === "api" && (r.path ?? "").startsWith("/network-interfaces")), "--no-network: no TAP");
    const seen = await run(["exec", id, "--", "sh", "-c", "nproc; sed -n 's/^MemTotal: *\\([0-9]*\\) kB/\\1/p' /proc/meminfo"]);
    const [cpus, memKb] = seen.stdout.trim().split("\n").map(Number);
    assert.equal(cpus, 2, seen.stderr);
    assert.ok(memKb !== undefined && memKb > 600 * 1024 && memKb <= 768 * 1024, `MemTotal ${memKb ?? "?"} kB for 768 MiB`);
    const busy = await run(["wt", branch, "--detach", "--cpus", "1"]);
    assert.notEqual(busy.code, 0, "a running sandbox is not resized behind its back");
    assert.match(busy.stderr, /--cpus 2/);
    await run(["stop", id]);
  });

  test("heyvm test-firecracker boots a throwaway sandbox, reports each step, and remembers the pass", { timeout: 600_000 }, async () => {
    const result = await run(["test-firecracker", "--format", "json"], { timeoutMs: 600_000 });
    const report = JSON.parse(result.stdout) as { passed: boolean; subject: string; steps: Array<{ name: string; ok: boolean; detail: string }>; notes: string[] };
    assert.equal(result.code, 0, `${result.stderr}\n${result.stdout}`);
    assert.equal(report.passed, true);
    assert.deepEqual(report.steps.map((step) => step.name), ["probe", "repository", "boot", "exec", "workspace host→guest", "workspace guest→host", "stop"]);
    assert.ok(report.steps.every((step) => step.ok));
    assert.match(report.notes.join(" "), /stand-in/, "the report says it ran on the stand-in");
    const backends = JSON.parse((await run(["backends", "--format", "json"])).stdout) as Array<{ name: string; status: string; reason: string | null; self_test: { passed: boolean } | null }>;
    const firecracker = backends.find((b) => b.name === "firecracker");
    assert.equal(firecracker?.status, "degraded", "a stand-in is never the default");
    assert.match(firecracker?.reason ?? "", /stand-in/);
    assert.equal(firecracker?.self_test?.passed, true);
    const text = renderSelfTest(JSON.parse(result.stdout) as SelfTestReport);
    assert.match(text, /^heyvm test-firecracker: PASS\n {2}host .+, kernel .+\n {2}backend firecracker \(.*stand-in/);
    assert.match(text, /ok {3}workspace guest→host/);
  });

  test("the self-hosted server's firecracker driver deploys on this backend, and an exposed port reaches the guest over vsock", { timeout: 600_000 }, async () => {
    const server = await startCloudServer({ dataDir: join(t.root, "srv"), env: { HEYVM_FIRECRACKER: t.env.HEYVM_FIRECRACKER }, prefix });
    try {
      // the server keeps sandboxes (and images) under its own HEYO_HOME: lend it the built image
      mkdirSync(join(server.sandboxHome, "images", "firecracker"), { recursive: true });
      spawnSync("cp", ["-a", "--sparse=always", join(t.home, "images", "firecracker", "default"), join(server.sandboxHome, "images", "firecracker", "default")]);
      const token = createToken(server.dataDir, "fc");
      const cloudEnv = { HEYO_CLOUD_URL: server.url, HEYO_API_KEY: token };
      writeFileSync(join(worktree(), "index.html"), "served from the guest\n");
      const deployed = await run(["wt", branch, "--deploy", "--deploy-driver", "firecracker", "--deploy-port", "8080"], { env: cloudEnv, timeoutMs: 600_000 });
      assert.equal(deployed.code, 0, `${deployed.stderr}\n${server.log()}`);
      const dep = /Deployed successfully! ID: (dep-[0-9a-f]{8})/.exec(deployed.stdout)?.[1] ?? "";
      // the endpoint has a host name of its own (<ep>.localhost); curl is pointed at its path form
      const exposed = /exposed: (http:\/\/ep-[0-9a-f]+\.localhost:\d+\/)/.exec(deployed.stdout)?.[1];
      const url = exposed ? loopbackUrl(exposed) : "";
      assert.ok(dep && url, deployed.stdout);
      const uname = await run(["exec", dep, "--", "cat", "/proc/cmdline"], { env: cloudEnv });
      assert.match(uname.stdout, /init=\/init\.sh/, "it runs in a firecracker-format guest");
      // busybox httpd listens on all addresses: the stand-in's vsock carrier reaches the guest's NIC
      await run(["exec", dep, "--", "sh", "-c", "busybox httpd -p 8080 -h /workspace"], { env: cloudEnv });
      let body = "";
      await waitFor(() => {
        // the server listens on the 127.0.0.1 of the namespace standing in for the host
        body = inHost([...prefix, "curl", "-sf", "-H", `authorization: Bearer ${token}`, `${url.replace(/\/$/, "")}/index.html`]).stdout;
        return body === "served from the guest\n";
      }, 60_000, "the exposed port to answer through the cloud proxy");
      const stop = await run(["stop", dep], { env: cloudEnv });
      assert.equal(stop.code, 0, stop.stderr);
      const sandboxes = join(server.sandboxHome, "sandboxes");
      await waitFor(() => !readdirSync("/proc").some((pid) => /^\d+$/.test(pid) && cmdline(Number(pid)).includes(sandboxes)), 10_000, "the sandbox's helpers (forwarder, sftp-server) to end with it");
    } finally {
      await server.cleanup();
    }
  });
});
