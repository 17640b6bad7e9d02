// End to end on the libvirt backend: a real libvirt + QEMU virtual machine (software emulation
// where KVM cannot run a guest), the default image built from Debian packages, the real heyvm
// binary. Skipped, with the reason, where libvirt cannot run here.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { createServer, type Server } from "node:net";
import { hasCommand, isAlive, makeTestEnv, waitFor, type TestEnv, idOf } from "./helpers/env.js";
import { checkWorkspaceBothWays } from "./helpers/workspace.js";
import { netnsMissing, startTestNetwork } from "./helpers/netns.js";
import { kvmStatus } from "../src/backends/kvm.js";
import type { SelfTestReport } from "../src/core/self-test.js";

function skipReason(): string | false {
  if (process.platform !== "linux") return "libvirt tests need Linux";
  if (process.getuid?.() !== 0) return "libvirt tests need root (the default image is built with mmdebstrap and a chroot)";
  for (const tool of ["virsh", "qemu-system-x86_64", "qemu-img", "mmdebstrap", "ssh"]) if (!hasCommand(tool)) return `${tool} is not installed`;
  const virsh = spawnSync("virsh", ["-c", "qemu:///system", "uri"], { encoding: "utf8", timeout: 60_000 });
  if (virsh.status !== 0) return `libvirtd is not reachable (${virsh.stderr.trim()}); run scripts/start-services.sh`;
  return false;
}

const skip = skipReason();

function owner(t: TestEnv, id: string): { pid: number; guestIp: string; ssh: { port: number; host: string }; backend: string; machine: { qemuPid: number; domain: string; accel: string } } {
  return JSON.parse(readFileSync(join(t.home, "sandboxes", id, "owner.json"), "utf8")) as ReturnType<typeof owner>;
}

/** A service on this machine's 127.0.0.1 that no sandbox should reach (unless it asked to). */
function hostOnlyService(): Promise<Server & { port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.end("host-only service\n"));
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve(Object.assign(server, { port: typeof address === "object" && address ? address.port : 0 }));
    });
  });
}

/** What a guest hears on a TCP port, or nothing (bash's /dev/tcp: it never half-closes). */
const TCP_PROBE = (host: string, port: number) => ["timeout", "10", "bash", "-c", `exec 3<>/dev/tcp/${host}/${port} && cat <&3`];

/** The libvirt domains heyvm made (any HEYO_HOME's): a self-test must leave none of its own. */
function heyvmDomains(): string[] {
  const listed = spawnSync("virsh", ["-q", "-c", "qemu:///system", "list", "--all", "--name"], { encoding: "utf8" });
  return listed.stdout.split("\n").map((line) => line.trim()).filter((name) => name.startsWith("heyvm-"));
}

/** The steps every passing self-test runs, in order. */
const SELF_TEST_STEPS = ["probe", "repository", "boot", "exec", "workspace host→guest", "workspace guest→host", "stop"];

function domainExists(name: string): boolean {
  return spawnSync("virsh", ["-c", "qemu:///system", "domstate", name], { encoding: "utf8" }).status === 0;
}

describe("heyvm wt on libvirt", { skip }, () => {
  let t: TestEnv;
  let id = "";
  const branch = "vm/feature";
  /** The sandbox folders under HEYO_HOME (records, disks). */
  const sandboxes = () => (existsSync(join(t.home, "sandboxes")) ? readdirSync(join(t.home, "sandboxes")).sort() : []);
  before(() => {
    t = makeTestEnv();
  });
  after(async () => {
    await t.cleanup();
    if (id && domainExists(`heyvm-${id}`)) spawnSync("virsh", ["-c", "qemu:///system", "destroy", `heyvm-${id}`]);
  });

  test("wt --detach builds the default image on first use and boots a VM", { timeout: 900_000 }, async () => {
    const result = await t.run(["wt", branch, "--backend", "libvirt", "--detach"], { timeoutMs: 900_000 });
    assert.equal(result.code, 0, result.stderr);
    id = idOf(result.stdout);
    assert.match(result.stderr, /building the default VM image/, "progress is shown");
    const image = JSON.parse(readFileSync(join(t.home, "images", "libvirt", "default", "image.json"), "utf8")) as { checksums: Record<string, string>; files: Record<string, string> };
    for (const role of ["kernel", "initrd", "rootfs"]) assert.match(image.checksums[role] ?? "", /^[0-9a-f]{64}$/, `${role} checksum recorded`);
    const record = owner(t, id);
    assert.equal(record.backend, "libvirt");
    assert.equal(record.guestIp, "10.0.2.15");
    assert.equal(record.ssh.host, "127.0.0.1");
    assert.ok(record.ssh.port > 0);
    assert.ok(domainExists(`heyvm-${id}`));
    const logs = await t.run(["logs", id]);
    assert.match(logs.stdout, /console: HEYVM_READY/, "the serial console is in owner.log");
    const images = await t.run(["images", "list"]);
    assert.match(images.stdout, /default\s+libvirt\s+\d/);
  });

  test("exec runs over SSH in /workspace, keeping streams and exit codes apart", async () => {
    const result = await t.run(["exec", id, "--", "sh", "-c", "pwd; cat; echo err >&2; exit 5"], { input: "in\n" });
    assert.equal(result.code, 5);
    assert.equal(result.stdout, "/workspace\nin\n");
    assert.equal(result.stderr, "err\n");
    const killed = await t.run(["exec", id, "--", "sh", "-c", "kill -9 $$"]);
    assert.equal(killed.code, 137);
    const knownHosts = readFileSync(join(t.home, "sandboxes", id, "ssh", "known_hosts"), "utf8");
    assert.match(knownHosts, new RegExp(`^heyvm-${id} ssh-ed25519 `), "the guest host key is pinned");
  });

  test("exec --user over SSH: the guest's own user runs it; a user the guest lacks, or one heyo cannot become, is refused saying so", async () => {
    const own = await t.run(["exec", id, "--user", "heyo", "--", "sh", "-c", 'id -un; echo "$HOME"; pwd']);
    assert.equal(own.code, 0, own.stderr);
    assert.equal(own.stdout, "heyo\n/home/heyo\n/workspace\n");
    const missing = await t.run(["exec", id, "-u", "no-such-user", "--", "true"]);
    assert.equal(missing.code, 125);
    assert.equal(missing.stderr, "heyvm: exec --user no-such-user: there is no such user in this sandbox\n");
    const root = await t.run(["exec", id, "--user", "root", "--", "id", "-u"]);
    assert.equal(root.code, 125);
    assert.equal(root.stdout, "", "nothing ran as root");
    assert.match(root.stderr, /cannot become another user/);
  });

  test("/workspace is the live worktree both ways, with the right owners", async () => {
    const worktree = join(t.root, "vm-feature");
    await checkWorkspaceBothWays((args) => t.run(args), id, worktree);
    const git = await t.run(["exec", id, "--", "sh", "-c", "git add from-guest.txt && git commit -qm from-vm && git log -1 --format=%s"]);
    assert.equal(git.code, 0, git.stderr);
    assert.equal(git.stdout.trim(), "from-vm");
  });

  test("wt --detach again reuses the live owner", async () => {
    const before = owner(t, id).pid;
    const again = await t.run(["wt", branch, "--detach"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(idOf(again.stdout), id);
    assert.equal(owner(t, id).pid, before);
  });

  test("kill -9 of the owner leaves no VM running, and wt --detach recovers", { timeout: 300_000 }, async () => {
    const record = owner(t, id);
    process.kill(record.pid, "SIGKILL");
    const list = JSON.parse((await t.run(["list", "--all", "--json"])).stdout) as Array<{ id: string; state: string }>;
    assert.equal(list.find((r) => r.id === id)?.state, "stopped");
    await waitFor(() => !isAlive(record.machine.qemuPid), 30_000, "QEMU to go with its owner");
    await waitFor(() => !domainExists(record.machine.domain), 30_000, "the domain to be gone");
    const again = await t.run(["wt", branch, "--detach"], { timeoutMs: 300_000 });
    assert.equal(again.code, 0, again.stderr);
    const exec = await t.run(["exec", id, "--", "cat", "from-host.txt"]);
    assert.equal(exec.stdout, "host\n");
  });

  test("the idle owner is the native monitor: it follows the serial console and records a guest that powers off", { timeout: 300_000 }, async () => {
    const record = owner(t, id);
    assert.match(readlinkSync(`/proc/${record.pid}/exe`), /heyvm-owner-monitor$/);
    const logPath = join(t.home, "sandboxes", id, "owner.log");
    // heyo is not root in the guest (its uid on the share is the sandbox's own), so the guest is
    // made to power off on its own by its power button (ACPI, as a user's `poweroff` inside would):
    // its shutdown script prints on the serial console, which the monitor follows into owner.log
    const pressed = spawnSync("virsh", ["-c", "qemu:///system", "shutdown", record.machine.domain], { encoding: "utf8" });
    assert.equal(pressed.status, 0, pressed.stderr);
    await waitFor(() => /console: heyvm: shutting down\n/.test(readFileSync(logPath, "utf8")), 60_000, "the guest's shutdown line from the serial console in owner.log");
    await waitFor(() => !isAlive(record.pid), 60_000, "the owner to exit after the guest powered off");
    const rows = JSON.parse((await t.run(["list", "--all", "--json"])).stdout) as Array<{ id: string; state: string; last_exit: string }>;
    const row = rows.find((r) => r.id === id);
    assert.equal(row?.state, "stopped");
    assert.match(row?.last_exit ?? "", /machine ended on its own: the virtual machine powered off/);
    await waitFor(() => !domainExists(record.machine.domain), 30_000, "the domain to be gone");
    const again = await t.run(["wt", branch, "--detach"], { timeoutMs: 300_000 });
    assert.equal(again.code, 0, again.stderr);
  });

  test("stop powers the guest off; a damaged disk is recreated before the next boot", { timeout: 300_000 }, async () => {
    const record = owner(t, id);
    const stop = await t.run(["stop", id]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.ok(!domainExists(record.machine.domain));
    assert.ok(!isAlive(record.machine.qemuPid));
    const logs = await t.run(["logs", id]);
    assert.match(logs.stdout, /HEYVM_POWEROFF/, "graceful power-off");
    const disk = join(t.home, "sandboxes", id, "disk.qcow2");
    assert.ok(existsSync(disk));
    writeFileSync(disk, "this is not a qcow2 image\n");
    const again = await t.run(["wt", branch, "--detach"], { timeoutMs: 300_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /disk\.qcow2 is damaged .*recreating it/);
    const exec = await t.run(["exec", id, "--", "cat", "from-guest.txt"]);
    assert.equal(exec.stdout, "guest\n", "the worktree survived");
    const used = await t.run(["images", "rm", "default"]);
    assert.equal(used.code, 4, "an image in use is not removed");
    await t.run(["stop", id]);
  });

  test("stop during a boot cuts it short: the guest never comes up and the start fails saying so", { timeout: 300_000 }, async () => {
    const logPath = join(t.home, "sandboxes", id, "owner.log");
    const boots = () => readFileSync(logPath, "utf8").split("creating domain").length;
    const before = boots();
    const starting = t.spawn(["wt", branch, "--detach"]);
    let startErr = "";
    starting.stderr?.setEncoding("utf8").on("data", (chunk: string) => (startErr += chunk));
    const startCode = new Promise<number | null>((resolve) => starting.on("close", (code) => resolve(code)));
    await waitFor(() => boots() > before, 60_000, "the new boot to create its domain");
    const stop = await t.run(["stop", id]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, /stopped/);
    assert.equal(await startCode, 6);
    assert.match(startErr, /failed to start: stopped while starting/);
    const lastBoot = readFileSync(logPath, "utf8").split("creating domain").pop() ?? "";
    assert.doesNotMatch(lastBoot, /sandbox ready/);
    assert.ok(!domainExists(`heyvm-${id}`));
  });

  test("the dialect on a VM: get shows the guest IP and ssh endpoint, start boots the same sandbox again, rm -y removes it", { timeout: 300_000 }, async () => {
    const start = await t.run(["start", id, "--format", "json"], { timeoutMs: 300_000 });
    assert.equal(start.code, 0, start.stderr);
    const started = JSON.parse(start.stdout) as { id: string; status: string; worktree: string };
    assert.deepEqual([started.id, started.status], [id, "running"]);
    const exec = await t.run(["exec", id, "--", "cat", "from-guest.txt"]);
    assert.equal(exec.stdout, "guest\n", "the same worktree and disk");
    const get = JSON.parse((await t.run(["get", id, "--format", "json"])).stdout) as { guest_ip: string; ssh: string; backend: string };
    assert.equal(get.backend, "libvirt");
    assert.equal(get.guest_ip, "10.0.2.15");
    assert.match(get.ssh, /^heyo@127\.0\.0\.1:\d+$/);
    const again = await t.run(["start", id]);
    assert.equal(again.code, 4, "a running sandbox is not started twice");
    const domain = owner(t, id).machine.domain;
    const removed = await t.run(["rm", id, "-y", "--format", "json"], { timeoutMs: 120_000 });
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal((JSON.parse(removed.stdout) as { was_running: boolean }).was_running, true);
    assert.ok(!domainExists(domain), "the VM is gone");
    assert.ok(!existsSync(join(t.home, "sandboxes", id)), "record and disk are gone");
    assert.ok(existsSync(join(t.root, "vm-feature", "from-guest.txt")), "the worktree stays");
    assert.equal((await t.run(["get", id])).code, 3);
    id = "";
  });

  test("heyvm test-libvirt: one throwaway sandbox, a pasteable report, the pass remembered per host, nothing left behind", { timeout: 900_000 }, async () => {
    // the self-test makes its repository and worktree under TMPDIR: a folder of the test's own shows what it leaves
    const tmp = join(t.root, "self-test-tmp");
    mkdirSync(tmp);
    const sandboxesBefore = sandboxes();
    const domainsBefore = heyvmDomains();
    const record = () => JSON.parse(readFileSync(join(t.home, "self-tests", "libvirt.json"), "utf8")) as { subject: string; passed: boolean; at: string; host: string };

    // libvirtd out of reach: a failed report (JSON), exit 1, the failure remembered, nothing booted
    const unreachable = await t.run(["test-libvirt", "--format", "json"], { env: { TMPDIR: tmp, HEYVM_LIBVIRT_URI: `qemu+unix:///system?socket=${join(t.root, "no-libvirtd.sock")}` } });
    assert.equal(unreachable.code, 1, unreachable.stderr);
    const failed = JSON.parse(unreachable.stdout) as SelfTestReport;
    assert.deepEqual([failed.subject, failed.backend, failed.passed], ["libvirt", "libvirt", false]);
    assert.deepEqual(failed.steps.map((step) => [step.name, step.ok]), [["probe", false]]);
    assert.match(failed.steps[0]?.detail ?? "", /^libvirtd is not reachable at qemu\+unix:\/\/\/system\?socket=.*\(start it with /, "why, and what to do");
    assert.equal(record().passed, false, "the failure is remembered");
    assert.deepEqual(sandboxes(), sandboxesBefore);

    // the real run, as a user types it: the plain-text report
    const result = await t.run(["test-libvirt"], { env: { TMPDIR: tmp }, timeoutMs: 900_000 });
    assert.equal(result.code, 0, `${result.stderr}\n${result.stdout}`);
    const lines = result.stdout.trimEnd().split("\n");
    assert.equal(lines[0], "heyvm test-libvirt: PASS");
    assert.match(lines[1] ?? "", new RegExp(`^ {2}host ${hostname()}, kernel \\S+, heyvm \\S+, (\\S+Z)$`));
    const kvm = kvmStatus().usable;
    assert.match(lines[2] ?? "", kvm ? /^ {2}backend libvirt \(KVM\)$/ : /^ {2}backend libvirt \(no KVM: .*software emulation \(TCG\) is used\)$/);
    const steps = lines.slice(3).map((line) => /^ {2}(ok {2}|FAIL) (.+?) +(\d+(?:\.\d)? m?s) {2}(.*)$/.exec(line));
    assert.ok(steps.every(Boolean), `one line per step:\n${result.stdout}`);
    assert.deepEqual(steps.map((step) => step?.[2]), SELF_TEST_STEPS);
    assert.ok(steps.every((step) => step?.[1] === "ok  "), result.stdout);
    const detail = (name: string) => steps.find((step) => step?.[2] === name)?.[4] ?? "";
    assert.match(detail("boot"), new RegExp(`^sb-[0-9a-f]{8} ready \\(${kvm ? "kvm" : "tcg"}\\)$`), "the accelerator the VM really ran with");
    assert.match(detail("exec"), /^Linux \S+ (x86_64|aarch64)$/, "uname ran in the guest");
    assert.doesNotMatch(result.stdout, /Paste this report/, "that line is for failures");

    const remembered = record();
    assert.deepEqual([remembered.subject, remembered.passed, remembered.host], ["libvirt", true, hostname()]);
    assert.equal(remembered.at, /, (\S+Z)$/.exec(lines[1] ?? "")?.[1], "the record is this run's");
    const backends = JSON.parse((await t.run(["backends", "--format", "json"])).stdout) as Array<{ name: string; self_test: { passed: boolean; host: string } | null }>;
    assert.deepEqual(backends.find((row) => row.name === "libvirt")?.self_test?.passed, true, "heyvm backends shows it");

    assert.deepEqual(readdirSync(tmp), [], "no repository or worktree folder is left");
    assert.deepEqual(sandboxes(), sandboxesBefore, "no sandbox record or disk is left");
    assert.deepEqual(heyvmDomains(), domainsBefore, "no domain is left");
    const listed = JSON.parse((await t.run(["list", "--all", "--json"])).stdout) as Array<{ id: string; name: string }>;
    assert.ok(!listed.some((row) => /self-test/.test(row.name)), "heyvm list shows no self-test sandbox");
  });

  test("heyvm test-kvm says plainly whether KVM runs a guest here: without it, FAIL with why and what it means, exit 1, nothing booted", { timeout: 900_000 }, async () => {
    const tmp = join(t.root, "kvm-test-tmp");
    mkdirSync(tmp);
    const domainsBefore = heyvmDomains();
    const sandboxesBefore = sandboxes();
    const kvm = kvmStatus();
    const text = await t.run(["test-kvm"], { env: { TMPDIR: tmp }, timeoutMs: 900_000 });
    const record = JSON.parse(readFileSync(join(t.home, "self-tests", "kvm.json"), "utf8")) as { passed: boolean; host: string };
    assert.equal(record.host, hostname());
    assert.deepEqual(readdirSync(tmp), [], "no repository or worktree folder is left");
    assert.deepEqual(sandboxes(), sandboxesBefore, "no sandbox is left");
    assert.deepEqual(heyvmDomains(), domainsBefore, "no domain is left");
    assert.doesNotMatch(text.stdout + text.stderr, /\n\s+at /, "no stack trace");
    if (kvm.usable) {
      // a host whose KVM runs stock guests: the one boot must have used it
      assert.equal(text.code, 0, `${text.stderr}\n${text.stdout}`);
      assert.match(text.stdout, /^heyvm test-kvm: PASS\n/);
      assert.match(text.stdout, /^ {2}ok {3}boot +\S+ m?s {2}sb-[0-9a-f]{8} ready \(kvm\)$/m);
      assert.equal(record.passed, true);
      return;
    }
    // here: /dev/kvm may exist (a paravirtual KVM such as kvm_pvm) but cannot run a stock guest kernel
    assert.equal(text.code, 1, text.stderr);
    assert.equal(record.passed, false, "the failure is remembered");
    const lines = text.stdout.trimEnd().split("\n");
    assert.equal(lines[0], "heyvm test-kvm: FAIL");
    const failure = lines.find((line) => line.startsWith("  FAIL kvm")) ?? "";
    assert.ok(failure.includes(kvm.reason), `the reason KVM is not usable: ${text.stdout}`);
    assert.match(failure, /No VM was booted\. Without KVM, libvirt sandboxes run under QEMU's software emulation \(TCG: slower; `heyvm test-libvirt` checks that here\) and firecracker cannot run$/, "what it means for the user");
    if (existsSync("/sys/module/kvm")) assert.match(failure, /\(modules: kvm\b[^)]*\)/, "the loaded KVM modules are named");
    assert.equal(lines.filter((line) => /^ {2}(ok {2}|FAIL) /.test(line)).length, 1, "it stops at the KVM check: no boot");
    assert.match(text.stdout, /\n\nPaste this report into a bug report; `heyvm backends` says what each backend needs\.\n$/);
    const json = await t.run(["test-kvm", "--format", "json"], { env: { TMPDIR: tmp } });
    assert.equal(json.code, 1, json.stderr);
    const report = JSON.parse(json.stdout) as SelfTestReport;
    assert.deepEqual([report.subject, report.backend, report.passed], ["kvm", "libvirt", false]);
    assert.deepEqual(report.steps.map((step) => [step.name, step.ok]), [["kvm", false]]);
    assert.equal(`  FAIL kvm  ${report.steps[0]?.detail}`.replace(/ +/g, " "), failure.replace(/ +\d+ m?s /, " ").replace(/ +/g, " "), "the JSON says the same");
    assert.deepEqual(readdirSync(tmp), []);
  });

  test("outbound by default: the gateway reaches no host's 127.0.0.1, a peer outside is reachable, DNS goes to the host's resolver", { skip: netnsMissing(), timeout: 600_000 }, async () => {
    // heyvm (so passt) runs in a namespace standing in for the host, whose way out is a peer
    // namespace: what the guest sends to 10.0.2.2 ends there. This machine's own 127.0.0.1 has
    // a service on the same port, which QEMU's user networking would have handed the guest.
    const thisMachine = await hostOnlyService();
    const network = await startTestNetwork({ ownHost: true, hostOnlyPort: thisMachine.port });
    const prefix = network.wrap([]);
    try {
      const started = await t.run(["wt", "vm/net", "--backend", "libvirt", "--detach"], { prefix, timeoutMs: 300_000 });
      assert.equal(started.code, 0, started.stderr);
      const vm = idOf(started.stdout);
      const gateway = await t.run(["exec", vm, "--", ...TCP_PROBE("10.0.2.2", thisMachine.port)], { prefix });
      assert.notEqual(gateway.code, 0, gateway.stdout);
      assert.doesNotMatch(gateway.stdout, /host-only/, "10.0.2.2 is not the host's loopback");
      const peer = await t.run(["exec", vm, "--", ...TCP_PROBE(network.peerAddress, network.peerPort)], { prefix });
      assert.equal(peer.stdout.trim(), "hello from the peer", peer.stderr);
      const dns = await t.run(["exec", vm, "--", "bash", "-c", "exec 3<>/dev/udp/10.0.2.3/53 && printf query >&3 && timeout 4 head -c 9 <&3"], { prefix });
      assert.equal(dns.stdout, "dns:query", `the host's resolver (the peer, here) answered: ${dns.stderr}`);
      await t.run(["stop", vm], { prefix });
    } finally {
      await network.cleanup();
      thisMachine.close();
    }
  });

  test("--network host keeps QEMU's user networking, whose gateway 10.0.2.2 is this machine's 127.0.0.1", { timeout: 600_000 }, async () => {
    const thisMachine = await hostOnlyService();
    try {
      const started = await t.run(["wt", "vm/hostnet", "--backend", "libvirt", "--network", "host", "--detach"], { timeoutMs: 300_000 });
      assert.equal(started.code, 0, started.stderr);
      assert.match(started.stderr, /^warning: --network host/m);
      const vm = idOf(started.stdout);
      const gateway = await t.run(["exec", vm, "--", ...TCP_PROBE("10.0.2.2", thisMachine.port)]);
      assert.equal(gateway.stdout.trim(), "host-only service", gateway.stderr);
      await t.run(["stop", vm]);
    } finally {
      thisMachine.close();
    }
  });
});
