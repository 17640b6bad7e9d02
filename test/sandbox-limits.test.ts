// Resource limits of a bubblewrap sandbox, tried from inside as a hostile tenant would: a fork
// bomb, a memory hog, /tmp and home fillers, each with small numbers (600 processes, 600 MiB,
// 300 MiB) so that even without limits this machine is never exhausted. The host side is checked
// afterwards: processes counted from the host's /proc, the cgroup's own counters, the cgroup
// gone after stop. As root (cgroups, home image) and as a non-root user the test creates
// (hvlimits1: RLIMIT_NPROC and the sized /tmp, and the limits it cannot set said plainly).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cgroupHierarchies, sandboxCgroupDir, type Controller } from "../src/backends/cgroups.js";
import { bubblewrapMissing, hasCommand, idOf, makeRepo, makeTestEnv, waitFor, type TestEnv } from "./helpers/env.js";

const asRoot = process.getuid?.() === 0;
const missing = bubblewrapMissing() || (!hasCommand("python3") ? "python3 is not installed (the memory hog is a python3 one-liner)" : false);
const skipRoot = missing || (!asRoot ? "needs root (cgroups, and to create the test user)" : false);

/** Attacks, each bounded: they succeed in full on a sandbox without limits, and stay small. */
const FORK_BOMB = 'n=0; while [ $n -lt 600 ]; do sleep 30 & n=$((n+1)); echo $n > /workspace/.forked; done; echo "forked $n"';
const MEMORY_HOG = "python3 -c \"import sys\nb=[]\nfor i in range(38):\n  b.append(b'x' * (16 << 20))\n  print(len(b) * 16, flush=True)\nprint('allocated 608 MiB', flush=True)\"";
const fill = (path: string, mib: number) => `dd if=/dev/zero of=${path} bs=1M count=${mib} 2>&1; echo "dd exit $?"; rm -f ${path}`;

interface Info {
  limits: { pids: number; memory_mib: number; cpus: number; tmp_mib: number; home_mib: number; set: string[] | null; not_set: string[] | null } | null;
}

function controllerDir(controller: Controller, id: string): string | undefined {
  const hierarchy = cgroupHierarchies().get(controller);
  return hierarchy ? sandboxCgroupDir(hierarchy, id) : undefined;
}

function cgroupFile(controller: Controller, id: string, file: string): string {
  const dir = controllerDir(controller, id);
  if (!dir) throw new Error(`no ${controller} controller`);
  return readFileSync(join(dir, file), "utf8").trim();
}

/** Processes in the sandbox's pid namespace, found from the host's /proc. */
function sandboxPids(home: string, id: string): number[] {
  const owner = JSON.parse(readFileSync(join(home, "sandboxes", id, "owner.json"), "utf8")) as { machine: { initPid: number } };
  const namespace = readlinkSync(`/proc/${owner.machine.initPid}/ns/pid`);
  return readdirSync("/proc").filter((entry) => {
    try {
      return /^\d+$/.test(entry) && readlinkSync(`/proc/${entry}/ns/pid`) === namespace;
    } catch {
      return false; // gone
    }
  }).map(Number);
}

function processesInSandbox(home: string, id: string): number {
  return sandboxPids(home, id).length;
}

/** Ends the fork bomb's sleeps (by pid: this test started them), sparing the sandbox's own processes. */
async function endBomb(home: string, id: string): Promise<void> {
  for (const pid of sandboxPids(home, id)) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8") === "sleep\u000030\u0000") process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  await waitFor(() => processesInSandbox(home, id) < 8, 30_000, "the fork bomb's sleeps to end");
}

function memAvailableMiB(): number {
  return Number(/^MemAvailable:\s+(\d+)/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0) / 1024;
}

function tasksOfUid(uid: number): number {
  let count = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, "utf8");
      if (/^Uid:\s+(\d+)/m.exec(status)?.[1] === String(uid)) count++;
    } catch {
      // gone
    }
  }
  return count;
}

describe("sandbox limits, heyvm as root", { skip: skipRoot }, () => {
  let t: TestEnv;
  let id = "";
  let workspace = "";
  before(async () => {
    t = makeTestEnv("heyvm-limits-");
    const started = await t.run(["wt", "limits/root", "--detach", "--no-network", "--pids", "64", "--memory", "256M", "--cpus", "1"], { env: { HEYVM_HOME_MIB: "64" } });
    assert.equal(started.code, 0, started.stderr);
    id = idOf(started.stdout);
    workspace = join(t.root, "limits-root");
  });
  after(async () => {
    if (id) await t.run(["stop", id]).catch(() => undefined);
    await t.cleanup();
  });

  test("the flags are recorded and the cgroup reads them back: pids.max, the memory limit, the CPU quota; get shows them", async () => {
    const spec = JSON.parse(readFileSync(join(t.home, "sandboxes", id, "sandbox.json"), "utf8")) as { pids: number; memoryMiB: number; cpus: number };
    assert.deepEqual([spec.pids, spec.memoryMiB, spec.cpus], [64, 256, 1]);
    const hierarchies = cgroupHierarchies();
    assert.equal(cgroupFile("pids", id, "pids.max"), "64");
    if (hierarchies.get("memory")?.version === 2) assert.equal(cgroupFile("memory", id, "memory.max"), String(256 << 20));
    else assert.equal(cgroupFile("memory", id, "memory.limit_in_bytes"), String(256 << 20));
    if (hierarchies.get("cpu")?.version === 2) assert.equal(cgroupFile("cpu", id, "cpu.max"), "100000 100000");
    else assert.deepEqual([cgroupFile("cpu", id, "cpu.cfs_quota_us"), cgroupFile("cpu", id, "cpu.cfs_period_us")], ["100000", "100000"]);
    const get = await t.run(["get", id, "--json"]);
    const info = JSON.parse(get.stdout) as Info;
    assert.deepEqual({ ...info.limits, set: undefined, not_set: undefined }, { pids: 64, memory_mib: 256, cpus: 1, tmp_mib: 128, home_mib: 64, set: undefined, not_set: undefined });
    assert.deepEqual(info.limits?.not_set, []);
    assert.ok(info.limits?.set?.includes("home 64 MiB"), JSON.stringify(info.limits));
  });

  test("exec and sh land in the sandbox's cgroup, through the native launcher and through Node", async () => {
    const trace = join(t.root, "launcher-trace");
    for (const fast of ["1", "0"]) {
      const seen = await t.run(["exec", id, "--", "cat", "/proc/self/cgroup"], { env: { HEYVM_FAST: fast, HEYVM_LAUNCHER_TRACE: trace } });
      assert.equal(seen.code, 0, seen.stderr);
      if (fast === "1") assert.equal(readFileSync(trace, "utf8"), "native: exec\n", "the native launcher ran the recipe itself");
      for (const controller of ["pids", "memory", "cpu"]) assert.match(seen.stdout, new RegExp(`:${controller}(,[a-z]+)*:/heyvm/${id}$|^0::/heyvm/${id}$`, "m"), `HEYVM_FAST=${fast}: ${seen.stdout}`);
    }
    const shell = await t.run(["sh", id], { input: "cat /proc/self/cgroup\nexit\n" });
    assert.match(shell.stdout, new RegExp(`/heyvm/${id}`), shell.stderr);
  });

  test("a fork bomb through exec stops at the pids bound; the host counts no more than that", async () => {
    const bomb = await t.run(["exec", id, "--", "sh", "-c", FORK_BOMB], { timeoutMs: 60_000 });
    const forked = Number(readFileSync(join(workspace, ".forked"), "utf8"));
    const inSandbox = processesInSandbox(t.home, id);
    assert.ok(forked < 64, `the bomb started ${forked} processes, ${inSandbox} in the sandbox counted from the host (exit ${bomb.code}: ${bomb.stderr.slice(0, 200)})`);
    const current = Number(cgroupFile("pids", id, "pids.current"));
    assert.ok(inSandbox <= 64 && current <= 64, `host side: ${inSandbox} processes in the sandbox's pid namespace, pids.current ${current}`);
    assert.ok(Number(/max (\d+)/.exec(cgroupFile("pids", id, "pids.events"))?.[1] ?? 0) > 0, "the cgroup counted refused forks");
    // the host and a fresh exec still work (the exec needs only a few processes of the sandbox's own)
    assert.equal(spawnSync("true").status, 0);
  });

  test("a memory hog is OOM-killed inside the sandbox's cgroup; the host keeps its memory", async () => {
    await endBomb(t.home, id);
    const before = memAvailableMiB();
    const hog = await t.run(["exec", id, "--", "sh", "-c", MEMORY_HOG], { timeoutMs: 120_000 });
    assert.doesNotMatch(hog.stdout, /allocated 608 MiB/, "the hog got all it asked for");
    assert.equal(hog.code, 137, `killed by SIGKILL (the OOM killer): exit ${hog.code}, ${hog.stderr.slice(0, 200)}`);
    const reached = Number(hog.stdout.trim().split("\n").pop() ?? 0);
    assert.ok(reached <= 256, `it held at most the limit: ${reached} MiB`);
    if (cgroupHierarchies().get("memory")?.version === 2) assert.match(cgroupFile("memory", id, "memory.events"), /^oom_kill [1-9]/m);
    else assert.match(cgroupFile("memory", id, "memory.oom_control"), /^oom_kill [1-9]/m);
    assert.ok(memAvailableMiB() > before - 512, "the host's available memory did not drop by the hog's 608 MiB");
  });

  test("writing /tmp beyond its size, or home beyond its image, fails with ENOSPC", async () => {
    const tmp = await t.run(["exec", id, "--", "sh", "-c", fill("/tmp/fill", 300)], { timeoutMs: 60_000 });
    assert.match(tmp.stdout, /No space left on device/, tmp.stdout);
    assert.doesNotMatch(tmp.stdout, /dd exit 0/);
    const home = await t.run(["exec", id, "--", "sh", "-c", fill("$HOME/fill", 100)], { timeoutMs: 60_000 });
    assert.match(home.stdout, /No space left on device/, home.stdout);
    const image = join(t.home, "sandboxes", id, "home.ext4");
    const used = Number(spawnSync("du", ["-m", image], { encoding: "utf8" }).stdout.split("\t")[0]);
    assert.ok(used <= 64, `the image takes ${used} MiB of the host's disk, within its size`);
    // the worktree is the user's own and not bounded: a file bigger than home's image goes in
    const worktree = await t.run(["exec", id, "--", "sh", "-c", fill("/workspace/big", 80)], { timeoutMs: 60_000 });
    assert.match(worktree.stdout, /dd exit 0/, worktree.stdout);
  });

  test("after stop the cgroup and the home mount are gone", async () => {
    const dirs = (["pids", "memory", "cpu"] as const).map((c) => controllerDir(c, id)).filter((d): d is string => d !== undefined);
    assert.ok(dirs.every((d) => existsSync(d)));
    const stop = await t.run(["stop", id]);
    assert.equal(stop.code, 0, stop.stderr);
    for (const dir of dirs) assert.equal(existsSync(dir), false, `${dir} is gone`);
    assert.doesNotMatch(readFileSync("/proc/self/mountinfo", "utf8"), new RegExp(`${id}/home`), "home is unmounted");
    // the kernel lets the loop device go once the sandbox's mount namespace is gone, a moment later
    const loopHeld = () => spawnSync("losetup", ["-a"], { encoding: "utf8" }).stdout.includes(`${id}/home.ext4`);
    await waitFor(() => !loopHeld(), 10_000, "its loop device to be released");
  });

  test("an owner killed with SIGKILL leaves its cgroup and home mount; the next stop clears them", async () => {
    const started = await t.run(["start", id]);
    assert.equal(started.code, 0, started.stderr);
    const owner = JSON.parse(readFileSync(join(t.home, "sandboxes", id, "owner.json"), "utf8")) as { pid: number };
    const pidsDir = controllerDir("pids", id) ?? "";
    assert.ok(existsSync(pidsDir));
    process.kill(owner.pid, "SIGKILL");
    await waitFor(() => !existsSync(`/proc/${owner.pid}`) || /^State:\s+Z/m.test(readFileSync(`/proc/${owner.pid}/status`, "utf8")), 10_000, "the owner to die");
    assert.ok(existsSync(pidsDir), "nothing removed it: the owner died without a word");
    const stop = await t.run(["stop", id, "--json"]);
    assert.equal(stop.code, 0, stop.stderr);
    const cleaned = (JSON.parse(stop.stdout) as { cleaned: string[] }).cleaned;
    assert.ok(cleaned.some((line) => line.startsWith("cgroup ")), JSON.stringify(cleaned));
    assert.equal(existsSync(pidsDir), false);
    assert.doesNotMatch(readFileSync("/proc/self/mountinfo", "utf8"), new RegExp(`${id}/home`), "home is unmounted");
    id = "";
  });

  test("bad flags are refused with what they take", async () => {
    const zero = await t.run(["wt", "limits/bad", "--detach", "--pids", "0"]);
    assert.equal(zero.code, 2);
    assert.match(zero.stderr, /--pids takes a whole number of processes from 16 to \d+, not "0"/);
    const memory = await t.run(["create", "--memory", "1x"]);
    assert.equal(memory.code, 2);
    assert.match(memory.stderr, /--memory takes a size from 128M up \(e\.g\. 2048, 512M, 2G\), not "1x"/);
    assert.doesNotMatch(zero.stderr + memory.stderr, /\n\s+at /, "no stack trace");
  });
});

describe("sandbox limits, heyvm as a non-root user", { skip: skipRoot }, () => {
  const user = "hvlimits1";
  let uid = 0;
  let t: TestEnv;
  let mine = "";
  let id = "";
  let heyvm: (args: string[], timeoutMs?: number) => ReturnType<TestEnv["run"]>;
  before(() => {
    spawnSync("userdel", ["-r", user], { stdio: "ignore" }); // a leftover of an earlier, killed run
    assert.equal(spawnSync("useradd", ["-M", "-s", "/bin/sh", user]).status, 0, "useradd");
    uid = Number(spawnSync("id", ["-u", user], { encoding: "utf8" }).stdout.trim());
    t = makeTestEnv("heyvm-limits-user-");
    mine = mkdtempSync(join(tmpdir(), "heyvm-limits-hv-"));
    const home = join(mine, "heyo");
    const repo = join(mine, "repo");
    makeRepo(repo);
    mkdirSync(home);
    assert.equal(spawnSync("chown", ["-R", `${uid}:${uid}`, mine]).status, 0);
    chmodSync(mine, 0o755);
    const prefix = ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--inh-caps=-all", "--"];
    heyvm = (args, timeoutMs = 120_000) => t.run(args, { prefix, cwd: repo, env: { HEYO_HOME: home, HOME: mine }, timeoutMs });
  });
  after(async () => {
    if (id) await heyvm(["stop", id]).catch(() => undefined);
    // every process of the test user is this test's
    spawnSync("pkill", ["-KILL", "-u", String(uid)]);
    spawnSync("userdel", ["-r", user], { stdio: "ignore" });
    rmSync(mine, { recursive: true, force: true });
    await t.cleanup();
  });

  test("wt says plainly which limits it could not set, and get shows them", async () => {
    const started = await heyvm(["wt", "limits/user", "--detach", "--no-network", "--pids", "64", "--memory", "256M"]);
    assert.equal(started.code, 0, started.stderr);
    id = idOf(started.stdout);
    assert.match(started.stderr, /warning: limits NOT set for sb-[0-9a-f]{8}: memory 256 MiB and cpus \d+ \(heyvm runs as uid \d+, not root, and has no cgroup it may write: no systemd user manager runs here to delegate one; run heyvm as root for them\); home 4096 MiB/);
    assert.equal(started.stderr.match(/limits NOT set/g)?.length, 1, "said once");
    const info = JSON.parse((await heyvm(["get", id, "--json"])).stdout) as Info;
    assert.ok(info.limits?.not_set?.some((line) => line.startsWith("memory 256 MiB and cpus")), JSON.stringify(info.limits));
    assert.ok(info.limits?.set?.some((line) => line.startsWith("processes: RLIMIT_NPROC")), JSON.stringify(info.limits));
    assert.match(readFileSync(join(mine, "heyo", "sandboxes", id, "owner.log"), "utf8"), /limits NOT set: memory 256 MiB/);
  });

  test("a fork bomb through exec is stopped by RLIMIT_NPROC near the pids bound (every process of the user counts)", async () => {
    const baseline = tasksOfUid(uid);
    await heyvm(["exec", id, "--", "sh", "-c", FORK_BOMB], 60_000);
    const forked = Number(readFileSync(join(mine, "limits-user", ".forked"), "utf8"));
    const now = tasksOfUid(uid);
    assert.ok(forked < 64, `the bomb started ${forked} processes`);
    assert.ok(now - baseline <= 64, `host side: uid ${uid} went from ${baseline} to ${now} processes`);
  });

  test("writing /tmp beyond its size fails with ENOSPC (a sized tmpfs needs no root)", async () => {
    await endBomb(join(mine, "heyo"), id);
    const tmp = await heyvm(["exec", id, "--", "sh", "-c", fill("/tmp/fill", 300)], 60_000);
    assert.match(tmp.stdout, /No space left on device/, tmp.stdout);
    const stop = await heyvm(["stop", id]);
    assert.equal(stop.code, 0, stop.stderr);
    id = "";
  });
});

/** Why a regular user's systemd user manager cannot be had here (the test user gets one by lingering), or false. */
function userManagerMissing(): string | false {
  if (skipRoot) return skipRoot;
  if (!existsSync("/run/systemd/system")) return `systemd is not this machine's init (PID 1 is ${readFileSync("/proc/1/comm", "utf8").trim()}), so no user gets a systemd user manager to delegate a cgroup`;
  if (!hasCommand("loginctl") || !hasCommand("systemd-run")) return "loginctl or systemd-run is not installed";
  return false;
}

describe("sandbox limits, a non-root user with a systemd user manager (a delegated slice)", { skip: userManagerMissing() }, () => {
  const user = "hvlimits2";
  let uid = 0;
  let t: TestEnv;
  let mine = "";
  let id = "";
  let heyvm: (args: string[], timeoutMs?: number) => ReturnType<TestEnv["run"]>;
  before(async () => {
    spawnSync("userdel", ["-r", user], { stdio: "ignore" });
    assert.equal(spawnSync("useradd", ["-M", "-s", "/bin/sh", user]).status, 0, "useradd");
    uid = Number(spawnSync("id", ["-u", user], { encoding: "utf8" }).stdout.trim());
    assert.equal(spawnSync("loginctl", ["enable-linger", user]).status, 0, "loginctl enable-linger");
    await waitFor(() => existsSync(`/run/user/${uid}/systemd/private`), 30_000, "the user's systemd manager");
    t = makeTestEnv("heyvm-limits-slice-");
    mine = mkdtempSync(join(tmpdir(), "heyvm-limits-slice-"));
    makeRepo(join(mine, "repo"));
    mkdirSync(join(mine, "heyo"));
    assert.equal(spawnSync("chown", ["-R", `${uid}:${uid}`, mine]).status, 0);
    chmodSync(mine, 0o755);
    const prefix = ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--inh-caps=-all", "--"];
    heyvm = (args, timeoutMs = 120_000) => t.run(args, { prefix, cwd: join(mine, "repo"), env: { HEYO_HOME: join(mine, "heyo"), HOME: mine, XDG_RUNTIME_DIR: `/run/user/${uid}` }, timeoutMs });
  });
  after(async () => {
    if (id) await heyvm(["stop", id]).catch(() => undefined);
    spawnSync("loginctl", ["disable-linger", user]);
    spawnSync("userdel", ["-r", user], { stdio: "ignore" });
    rmSync(mine, { recursive: true, force: true });
    await t.cleanup();
  });

  test("memory, CPU and processes are the slice's; exec lands in it; a memory hog is OOM-killed there", async () => {
    const started = await heyvm(["wt", "limits/slice", "--detach", "--no-network", "--backend", "bubblewrap", "--pids", "64", "--memory", "256M"]);
    assert.equal(started.code, 0, started.stderr);
    id = idOf(started.stdout);
    const info = JSON.parse((await heyvm(["get", id, "--json"])).stdout) as Info;
    assert.ok(info.limits?.set?.some((line) => line.includes(`slice heyvm-${id}.slice`)), JSON.stringify(info.limits));
    const seen = await heyvm(["exec", id, "--", "cat", "/proc/self/cgroup"]);
    assert.match(seen.stdout, new RegExp(`heyvm-${id}\\.slice`), seen.stderr);
    const hog = await heyvm(["exec", id, "--", "sh", "-c", MEMORY_HOG], 120_000);
    assert.doesNotMatch(hog.stdout, /allocated 608 MiB/, "the hog got all it asked for");
    const stop = await heyvm(["stop", id]);
    assert.equal(stop.code, 0, stop.stderr);
    id = "";
  });
});
