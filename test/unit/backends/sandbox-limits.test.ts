// The pure parts of sandbox limits: which hierarchy each controller is on (from mountinfo), the
// defaults, the flags' checks, and the join step that moves a process into the sandbox's cgroup.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cgroupHierarchies, createSandboxCgroup, joinWords, sandboxCgroupDir, type Controller, type Hierarchy } from "../../../src/backends/cgroups.js";
import { sandboxLimits } from "../../../src/backends/sandbox-limits.js";
import { parseMachineSize } from "../../../src/cli/machine-size-options.js";
import { UserError } from "../../../src/shared/errors.js";

const HYBRID = [
  "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
  "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
  "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
  "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids",
  "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
].join("\n");

describe("cgroupHierarchies", () => {
  test("a v1/v2 hybrid whose controllers are all on v1 (this machine): each on its own v1 mount", () => {
    const found = cgroupHierarchies(HYBRID, () => "");
    assert.deepEqual(found.get("pids"), { version: 1, mount: "/sys/fs/cgroup/pids" });
    assert.deepEqual(found.get("memory"), { version: 1, mount: "/sys/fs/cgroup/memory" });
    assert.deepEqual(found.get("cpu"), { version: 1, mount: "/sys/fs/cgroup/cpu" });
  });
  test("pure v2: every controller the root lists is on the unified mount", () => {
    const found = cgroupHierarchies("30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate", () => "cpuset cpu io memory pids\n");
    for (const controller of ["pids", "memory", "cpu"] as const) assert.deepEqual(found.get(controller), { version: 2, mount: "/sys/fs/cgroup" });
  });
  test("a hybrid with memory on v2 only; a controller nowhere is absent", () => {
    const info = ["39 31 0:36 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids", "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw"].join("\n");
    const found = cgroupHierarchies(info, () => "memory");
    assert.equal(found.get("pids")?.version, 1);
    assert.deepEqual(found.get("memory"), { version: 2, mount: "/sys/fs/cgroup/unified" });
    assert.equal(found.get("cpu"), undefined);
  });
  test("the sandbox's folder is heyvm/<id>, and only a sandbox id is accepted", () => {
    assert.equal(sandboxCgroupDir({ version: 1, mount: "/sys/fs/cgroup/pids" }, "sb-0123abcd"), "/sys/fs/cgroup/pids/heyvm/sb-0123abcd");
    assert.throws(() => sandboxCgroupDir({ version: 1, mount: "/m" }, "../../x"));
  });
});

describe("sandboxLimits", () => {
  test("defaults: 1024 processes, 4 GiB at most half the host's memory, every core but one, /tmp half the memory", () => {
    assert.deepEqual(sandboxLimits({ pids: null, cpus: null, memoryMiB: null }, { memoryMiB: 24_000, cores: 2 }), { pids: 1024, memoryMiB: 4096, cpus: 1, tmpMiB: 2048, homeMiB: 4096 });
    assert.equal(sandboxLimits({ pids: null, cpus: null, memoryMiB: null }, { memoryMiB: 2048, cores: 1 }).memoryMiB, 1024);
    assert.equal(sandboxLimits({ pids: null, cpus: null, memoryMiB: null }, { memoryMiB: 2048, cores: 1 }).cpus, 1);
  });
  test("what was asked wins", () => {
    assert.deepEqual(sandboxLimits({ pids: 64, cpus: 3, memoryMiB: 512 }, { memoryMiB: 24_000, cores: 2 }), { pids: 64, memoryMiB: 512, cpus: 3, tmpMiB: 256, homeMiB: 4096 });
  });
});

describe("parseMachineSize", () => {
  test("--pids: a whole number from 16; clear errors otherwise", () => {
    assert.deepEqual(parseMachineSize({ pids: "64" }), { pids: 64 });
    for (const bad of ["0", "-1", "1.5", "lots", "15"]) {
      assert.throws(() => parseMachineSize({ pids: bad }), (error: unknown) => error instanceof UserError && /--pids takes a whole number of processes from 16/.test(error.message), bad);
    }
  });
  test("--memory 1x is refused with what it takes", () => {
    assert.throws(() => parseMachineSize({ memory: "1x" }), (error: unknown) => error instanceof UserError && /--memory takes a size from 128M up/.test(error.message));
  });
});

describe("joinWords", () => {
  test("the step writes its own pid into each file, then execs the command with the same pid", () => {
    const dir = mkdtempSync(join(tmpdir(), "heyvm-join-"));
    try {
      const files = [join(dir, "a procs"), join(dir, "b")];
      for (const file of files) writeFileSync(file, "");
      const out = execFileSync("/bin/sh", [...joinWords(files), "/bin/sh", "-c", 'echo "$$ $1"', "x", "it's"], { encoding: "utf8" });
      const [pid, arg] = out.trim().split(" ");
      assert.equal(arg, "it's");
      for (const file of files) assert.equal(readFileSync(file, "utf8").trim(), pid);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test("a file it cannot write stops it before the command runs (exit 125)", () => {
    assert.throws(() => execFileSync("/bin/sh", [...joinWords(["/nonexistent/cgroup.procs"]), "/bin/echo", "ran"], { encoding: "utf8", stdio: "pipe" }), (error: { status?: number; stdout?: string }) => error.status === 125 && !String(error.stdout).includes("ran"));
  });
});

describe("createSandboxCgroup (on a folder standing in for the cgroup file systems: what it writes where)", () => {
  const limits = { pids: 64, memoryMiB: 256, cpus: 2, tmpMiB: 128, homeMiB: 64 };
  const read = (path: string) => readFileSync(path, "utf8");
  test("v2: the controllers passed down from the root and heyvm/, one folder with pids.max, memory.max, no swap, cpu.max", async () => {
    const root = mkdtempSync(join(tmpdir(), "heyvm-cg2-"));
    try {
      const v2: Hierarchy = { version: 2, mount: root };
      const hierarchies = new Map<Controller, Hierarchy>([["pids", v2], ["memory", v2], ["cpu", v2]]);
      const dir = join(root, "heyvm", "sb-0123abcd");
      const made = await createSandboxCgroup("sb-0123abcd", limits, hierarchies);
      assert.deepEqual(made.procsFiles, [join(dir, "cgroup.procs")], "one cgroup.procs for the three controllers");
      assert.deepEqual(made.set, ["pids 64", "memory 256 MiB", "cpus 2"]);
      assert.deepEqual(made.notSet, []);
      assert.equal(read(join(dir, "pids.max")), "64");
      assert.equal(read(join(dir, "memory.max")), String(256 << 20));
      assert.equal(read(join(dir, "cpu.max")), "200000 100000");
      // subtree_control: the last write is what a regular file keeps; each controller is written on its own
      assert.equal(read(join(root, "cgroup.subtree_control")), "+cpu");
      assert.equal(read(join(root, "heyvm", "cgroup.subtree_control")), "+cpu");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
  test("v1: a folder per hierarchy with pids.max, memory.limit_in_bytes (and memsw where there is swap accounting), the CFS quota", async () => {
    const root = mkdtempSync(join(tmpdir(), "heyvm-cg1-"));
    try {
      const hierarchies = new Map<Controller, Hierarchy>((["pids", "memory", "cpu"] as const).map((c) => [c, { version: 1, mount: join(root, c) }]));
      const made = await createSandboxCgroup("sb-0123abcd", limits, hierarchies);
      assert.equal(made.procsFiles.length, 3);
      assert.equal(read(join(root, "pids", "heyvm", "sb-0123abcd", "pids.max")), "64");
      assert.equal(read(join(root, "memory", "heyvm", "sb-0123abcd", "memory.limit_in_bytes")), String(256 << 20));
      assert.equal(existsSync(join(root, "memory", "heyvm", "sb-0123abcd", "memory.memsw.limit_in_bytes")), false, "no swap accounting here: not made up");
      assert.equal(read(join(root, "cpu", "heyvm", "sb-0123abcd", "cpu.cfs_quota_us")), "200000");
      assert.equal(read(join(root, "cpu", "heyvm", "sb-0123abcd", "cpu.cfs_period_us")), "100000");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
  test("a controller the host lacks is reported as not set, with why", async () => {
    const root = mkdtempSync(join(tmpdir(), "heyvm-cg-"));
    try {
      const made = await createSandboxCgroup("sb-0123abcd", limits, new Map<Controller, Hierarchy>([["pids", { version: 1, mount: root }]]));
      assert.deepEqual(made.set, ["pids 64"]);
      assert.deepEqual(made.notSet, ["memory (no memory cgroup controller on this host)", "cpu (no cpu cgroup controller on this host)"]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
