// A libvirt sandbox's processes on the host — QEMU, heyvm's virtiofsd, passt — bounded like a
// bubblewrap sandbox's (heyvm as root): the helpers heyvm starts join the sandbox's cgroup
// (`heyvm/<id>`: pids, memory = guest + QEMU's own, CPU = vCPUs + 1) before they exec, QEMU is
// moved into its pids and memory cgroups once libvirtd has started it; `get` shows it; stop
// removes it. Then a regular user's libvirt
// sandbox (`qemu:///session`, heyvm's own virtiofsd, test user hvvmlim1) booted with the git
// store: a commit inside reaches the host's branch, the routes of git-boundary.test.ts that a
// guest can try (the host's git folder, /workspace/.git, the host's objects) fail, and its limits
// say plainly what is not set. A built default image may be lent with HEYVM_TEST_LIBVIRT_IMAGE.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cgroupHierarchies, sandboxCgroupDir, type Controller } from "../src/backends/cgroups.js";
import { VM_HOST_PIDS, VM_OVERHEAD_MIB } from "../src/backends/vm-host-limits.js";
import { hasCommand, idOf, makeRepo, makeTestEnv, waitFor, type RunResult, type TestEnv } from "./helpers/env.js";

function libvirtMissing(): string | false {
  if (process.getuid?.() !== 0) return "needs root (cgroups, and to create the test user)";
  for (const tool of ["virsh", "qemu-system-x86_64", "qemu-img", "mmdebstrap", "ssh", "passt"]) if (!hasCommand(tool)) return `${tool} is not installed`;
  const virsh = spawnSync("virsh", ["-c", "qemu:///system", "uri"], { encoding: "utf8", timeout: 60_000 });
  if (virsh.status !== 0) return `libvirtd is not reachable (${virsh.stderr.trim()}); run scripts/start-services.sh`;
  if (!cgroupHierarchies().get("pids")) return "no pids cgroup controller on this host";
  return false;
}
const skip = libvirtMissing();

interface Limits {
  pids: number;
  memory_mib: number;
  cpus: number;
  tmp_mib: number | null;
  set: string[] | null;
  not_set: string[] | null;
}

/** The default image: lent by HEYVM_TEST_LIBVIRT_IMAGE, else built (minutes). */
async function provideImage(t: TestEnv, home: string): Promise<void> {
  const image = join(home, "images", "libvirt", "default");
  const lent = process.env.HEYVM_TEST_LIBVIRT_IMAGE;
  if (lent && existsSync(join(lent, "image.json"))) {
    mkdirSync(join(image, ".."), { recursive: true });
    cpSync(lent, image, { recursive: true });
  } else {
    const built = await t.run(["images", "build", "--backend-type", "libvirt"], { env: { HEYO_HOME: home }, timeoutMs: 1_200_000 });
    assert.equal(built.code, 0, `the default image builds: ${built.stderr}`);
  }
}

/** The cgroup path of a process in the hierarchy holding a controller ("" when it has none there). */
function cgroupOf(pid: number, controller: Controller): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n");
  const hierarchy = cgroupHierarchies().get(controller);
  const line = hierarchy?.version === 2 ? lines.find((l) => l.startsWith("0::")) : lines.find((l) => l.split(":")[1]?.split(",").includes(controller));
  return line?.split(":")[2] ?? "";
}

function processesWith(text: string): number[] {
  return readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).filter((entry) => {
    try {
      return readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(text);
    } catch {
      return false;
    }
  }).map(Number);
}

function controllerFile(controller: Controller, id: string, file: string): string {
  const hierarchy = cgroupHierarchies().get(controller);
  if (!hierarchy) throw new Error(`no ${controller} controller`);
  return readFileSync(join(sandboxCgroupDir(hierarchy, id), file), "utf8").trim();
}

describe("a libvirt sandbox's host processes are bounded, heyvm as root", { skip, timeout: 1_800_000 }, () => {
  let t: TestEnv;
  let id = "";
  before(async () => {
    t = makeTestEnv("heyvm-vmlimits-");
    await provideImage(t, t.home);
    const started = await t.run(["wt", "vmlim", "-b", "--detach", "--backend", "libvirt"], { timeoutMs: 900_000 });
    assert.equal(started.code, 0, started.stderr);
    id = idOf(started.stdout);
  });
  after(async () => {
    if (id) await t.run(["stop", id]).catch(() => undefined);
    await t.cleanup();
    if (id) spawnSync("virsh", ["-c", "qemu:///system", "destroy", `heyvm-${id}`], { stdio: "ignore" });
  });

  test("QEMU, virtiofsd and passt are in the sandbox's cgroups; get shows it; stop removes them", { timeout: 600_000 }, async () => {
    const owner = JSON.parse(readFileSync(join(t.home, "sandboxes", id, "owner.json"), "utf8")) as { machine: { qemuPid: number; passtPid: number; accel: string } };
    const memoryMiB = 1024 + (owner.machine.accel === "kvm" ? VM_OVERHEAD_MIB.kvm : VM_OVERHEAD_MIB.tcg);
    assert.equal(controllerFile("pids", id, "pids.max"), String(VM_HOST_PIDS));
    const memoryFile = cgroupHierarchies().get("memory")?.version === 2 ? "memory.max" : "memory.limit_in_bytes";
    assert.equal(controllerFile("memory", id, memoryFile), String(memoryMiB * 1024 * 1024));
    const virtiofsd = processesWith(join(t.home, "sandboxes", id, "fs")).filter((pid) => readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "virtiofsd");
    assert.ok(virtiofsd.length >= 1, "heyvm's virtiofsd runs");
    const ours = `/heyvm/${id}`;
    for (const [what, pid] of [["passt", owner.machine.passtPid], ...virtiofsd.map((pid) => ["virtiofsd", pid] as const)] as const) {
      for (const controller of ["pids", "memory", "cpu"] as const) assert.equal(cgroupOf(pid, controller), ours, `${what} (pid ${pid}) in the sandbox's ${controller} cgroup`);
    }
    assert.equal(cgroupOf(owner.machine.qemuPid, "pids"), ours, "QEMU in the sandbox's pids cgroup");
    const members = controllerFile("pids", id, "cgroup.procs").split("\n").map(Number);
    assert.ok([owner.machine.qemuPid, owner.machine.passtPid, ...virtiofsd].every((pid) => members.includes(pid)), `members ${members.join(" ")}`);
    assert.ok(Number(controllerFile("pids", id, "pids.current")) <= VM_HOST_PIDS);
    assert.equal(cgroupOf(owner.machine.qemuPid, "memory"), ours, "QEMU in the sandbox's memory cgroup");
    const limits = (JSON.parse((await t.run(["get", id, "--json"])).stdout) as { limits: Limits | null }).limits;
    assert.equal(limits?.pids, VM_HOST_PIDS);
    assert.equal(limits?.memory_mib, memoryMiB);
    assert.equal(limits?.tmp_mib, null);
    assert.deepEqual(limits?.not_set, []);
    assert.ok(limits?.set?.some((line) => line.includes("QEMU in the pids and memory cgroups")), JSON.stringify(limits));
    const stop = await t.run(["stop", id]);
    assert.equal(stop.code, 0, stop.stderr);
    for (const hierarchy of cgroupHierarchies().values()) assert.equal(existsSync(sandboxCgroupDir(hierarchy, id)), false, `${sandboxCgroupDir(hierarchy, id)} removed`);
    id = "";
  });
});

// What a guest may try against the git boundary (git-boundary.test.ts's guest list): each line
// `<what> wrote|refused`. C is the host's git folder at its host path.
const GUEST_ROUTES = `
try() { what=$1; shift; if ( "$@" ) >/dev/null 2>&1; then echo "$what wrote"; else echo "$what refused"; fi; }
try "host git folder visible" test -e "$C"
try "commondir in the main git folder" sh -c 'echo /workspace/.evil > "$C/commondir"'
try "/workspace/.git written" sh -c 'echo "gitdir: /workspace/.evil" > /workspace/.git'
try "/workspace/.git renamed" mv /workspace/.git /workspace/.git.moved
try "host objects in the store written" touch /heyvm/git/host-objects/planted
try "host objects in the store deleted" sh -c 'find /heyvm/git/host-objects -type f | grep -q . && find /heyvm/git/host-objects -type f -delete'
`;

describe("a regular user's libvirt sandbox (qemu:///session, heyvm's virtiofsd) with the git store", { skip, timeout: 1_800_000 }, () => {
  const user = "hvvmlim1";
  let uid = 0;
  let t: TestEnv;
  let mine = "";
  let id = "";
  let heyvm: (args: string[], timeoutMs?: number) => Promise<RunResult>;
  const asUser = (argv: string[], cwd: string) => spawnSync("setpriv", [`--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--", ...argv], { cwd, encoding: "utf8", env: { PATH: process.env.PATH, HOME: mine } });
  /** Every process of the test user: this test's (its session libvirtd, QEMU, virtiofsd…). */
  const endUserProcesses = () => {
    for (const entry of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
      try {
        if (/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${entry}/status`, "utf8"))?.[1] === String(uid)) process.kill(Number(entry), "SIGKILL");
      } catch {
        // gone
      }
    }
  };
  before(async () => {
    spawnSync("userdel", ["-r", user], { stdio: "ignore" });
    assert.equal(spawnSync("useradd", ["-M", "-s", "/bin/sh", user]).status, 0, "useradd");
    uid = Number(spawnSync("id", ["-u", user], { encoding: "utf8" }).stdout.trim());
    t = makeTestEnv("heyvm-vmlimits-user-");
    mine = mkdtempSync(join(tmpdir(), "heyvm-vmlim-hv-"));
    makeRepo(join(mine, "repo"));
    mkdirSync(join(mine, "heyo"));
    await provideImage(t, join(mine, "heyo"));
    assert.equal(spawnSync("chown", ["-R", `${uid}:${uid}`, mine]).status, 0);
    chmodSync(mine, 0o755);
    const prefix = ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--inh-caps=-all", "--"];
    heyvm = (args, timeoutMs = 120_000) => t.run(args, { prefix, cwd: join(mine, "repo"), env: { HEYO_HOME: join(mine, "heyo"), HOME: mine }, timeoutMs });
  });
  after(async () => {
    if (id) await heyvm(["stop", id]).catch(() => undefined);
    endUserProcesses();
    spawnSync("userdel", ["-r", user], { stdio: "ignore" });
    if (mine) rmSync(mine, { recursive: true, force: true });
    await t.cleanup();
  });

  test("a commit inside reaches the host's branch; the host's git folder, /workspace/.git and its objects stay out of reach; the limits not set are said", { timeout: 1_200_000 }, async () => {
    const repo = join(mine, "repo");
    const started = await heyvm(["wt", "vmuser", "-b", "--detach", "--backend", "libvirt", "--no-network"], 900_000);
    assert.equal(started.code, 0, started.stderr);
    id = idOf(started.stdout);
    const worktree = join(mine, "vmuser");
    const owner = JSON.parse(readFileSync(join(mine, "heyo", "sandboxes", id, "owner.json"), "utf8")) as { machine: { uri: string } };
    assert.equal(owner.machine.uri, "qemu:///session");
    const gitFileBefore = readFileSync(join(worktree, ".git"), "utf8");
    const objectsBefore = spawnSync("find", [join(repo, ".git", "objects"), "-type", "f"], { encoding: "utf8" }).stdout;
    const routes = await heyvm(["exec", id, "--", "bash", "-c", `C=${join(repo, ".git")}\n${GUEST_ROUTES}`]);
    assert.equal(routes.code, 0, routes.stderr);
    const lines = routes.stdout.trim().split("\n");
    assert.equal(lines.length, 6, routes.stdout);
    assert.deepEqual(lines.filter((line) => !line.endsWith(" refused")), [], "what the guest could do");
    assert.equal(asUser(["git", "status", "--porcelain"], worktree).status, 0, "host git works in the worktree");
    assert.ok(!existsSync(join(repo, ".git", "commondir")));
    assert.equal(readFileSync(join(worktree, ".git"), "utf8"), gitFileBefore);
    const objectsAfter = new Set(spawnSync("find", [join(repo, ".git", "objects"), "-type", "f"], { encoding: "utf8" }).stdout.split("\n"));
    assert.deepEqual(objectsBefore.split("\n").filter((path) => !objectsAfter.has(path)), [], "every object file the host had is still there");
    // the legit flow: a commit inside reaches the host's branch, host git status clean
    const commit = await heyvm(["exec", id, "--", "bash", "-c", "set -e; cd /workspace; echo 1 > inside.txt; git add inside.txt; git commit -qm inside; git rev-parse HEAD"]);
    assert.equal(commit.code, 0, commit.stderr);
    const tip = commit.stdout.trim();
    await waitFor(() => asUser(["git", "rev-parse", "refs/heads/vmuser"], repo).stdout.trim() === tip && asUser(["git", "status", "--porcelain"], worktree).stdout === "", 15_000, "the guest's commit on the host's branch, host status clean");
    assert.equal(asUser(["git", "fsck", "--no-dangling"], repo).status, 0, "git fsck on the host");
    const made = spawnSync("stat", ["-c", "%u", join(worktree, "inside.txt")], { encoding: "utf8" }).stdout.trim();
    assert.equal(made, String(uid), "the guest's file is the user's on the host");
    // a regular user has no cgroup heyvm may write: said plainly
    const limits = (JSON.parse((await heyvm(["get", id, "--json"])).stdout) as { limits: Limits | null }).limits;
    assert.ok(limits?.not_set?.some((line) => /host processes: .*not root, and has no cgroup it may write/.test(line)), JSON.stringify(limits));
    const stop = await heyvm(["stop", id], 300_000);
    assert.equal(stop.code, 0, stop.stderr);
    id = "";
  });
});
