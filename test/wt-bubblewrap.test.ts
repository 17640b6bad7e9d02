// End to end on the bubblewrap backend: real git repositories, real bwrap sandboxes, the real
// heyvm binary. Every test cleans up the owners it started, even when it fails.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { bubblewrapMissing, git, isAlive, makeTestEnv, ownerPids, waitFor, type TestEnv, idOf } from "./helpers/env.js";

const skip = bubblewrapMissing();

function ownerJson(t: TestEnv, id: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(t.home, "sandboxes", id, "owner.json"), "utf8")) as Record<string, unknown>;
}

function sandboxProcesses(initPid: number): number[] {
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${initPid}/ns/pid`);
  } catch {
    return [];
  }
  return readdirSync("/proc")
    .map(Number)
    .filter((pid) => {
      try {
        return Number.isInteger(pid) && isAlive(pid) && readlinkSync(`/proc/${pid}/ns/pid`) === ns;
      } catch {
        return false;
      }
    });
}

describe("heyvm wt on bubblewrap", { skip }, () => {
  let t: TestEnv;
  let id = "";
  before(() => {
    t = makeTestEnv();
    writeFileSync(join(t.repo, "README.md"), "hello\nuncommitted change\n");
    writeFileSync(join(t.repo, "untracked.txt"), "mine\n");
  });
  after(async () => {
    await t.cleanup();
  });

  test("wt --detach creates the branch, the worktree beside the repo and a running sandbox", async () => {
    const result = await t.run(["wt", "feature/my-change", "--detach"]);
    assert.equal(result.code, 0, result.stderr);
    id = idOf(result.stdout);
    assert.match(id, /^sb-[0-9a-f]{8}$/);
    const worktree = join(t.root, "feature-my-change");
    assert.ok(existsSync(join(worktree, "README.md")), "worktree checked out at ../feature-my-change");
    assert.equal(git(worktree, "rev-parse", "--abbrev-ref", "HEAD").trim(), "feature/my-change");
    const owner = ownerJson(t, id);
    assert.equal(owner.backend, "bubblewrap");
    assert.equal(owner.state, "running");
    assert.equal(owner.guestIp, null);
    assert.equal(typeof owner.pid, "number");
    assert.equal(owner.bootId, readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim());
    assert.ok(existsSync(join(t.home, "sandboxes", id, "owner.log")));
    const spec = JSON.parse(readFileSync(join(t.home, "sandboxes", id, "sandbox.json"), "utf8")) as Record<string, unknown>;
    assert.equal(spec.name, "wt-feature-my-change");
  });

  test("list and wt --list show the sandbox with state, backend, branch and worktree", async () => {
    const list = await t.run(["list", "--json"]);
    assert.equal(list.code, 0, list.stderr);
    const rows = JSON.parse(list.stdout) as Array<Record<string, unknown>>;
    const row = rows.find((r) => r.id === id);
    assert.ok(row, "sandbox listed");
    assert.equal(row.state, "running");
    assert.equal(row.backend, "bubblewrap");
    assert.equal(row.branch, "feature/my-change");
    assert.equal(row.worktree, join(t.root, "feature-my-change"));
    const text = await t.run(["wt", "--list"]);
    assert.match(text.stdout, /wt-feature-my-change\s+running\s+bubblewrap\s+feature\/my-change/);
  });

  test("exec runs in /workspace with stdout and stderr apart, stdin passed and the exit code kept", async () => {
    const result = await t.run(["exec", id, "--", "sh", "-c", 'pwd; cat; echo to-stderr >&2; exit 7'], { input: "from-stdin\n" });
    assert.equal(result.code, 7);
    assert.equal(result.stdout, "/workspace\nfrom-stdin\n");
    assert.equal(result.stderr, "to-stderr\n");
    const killed = await t.run(["exec", id, "--", "sh", "-c", "kill -9 $$"]);
    assert.equal(killed.code, 137, "killed by SIGKILL → 128 + 9");
    const byName = await t.run(["exec", "wt-feature-my-change", "--", "true"]);
    assert.equal(byName.code, 0, byName.stderr);
    const byBranch = await t.run(["exec", "feature/my-change", "--", "git", "status", "--short"]);
    assert.equal(byBranch.code, 0, byBranch.stderr);
    const byPrefix = await t.run(["exec", id.slice(0, 7), "--", "true"]);
    assert.equal(byPrefix.code, 0, byPrefix.stderr);
  });

  test("/workspace is the live worktree, both ways", async () => {
    const worktree = join(t.root, "feature-my-change");
    writeFileSync(join(worktree, "from-host.txt"), "host\n");
    const seen = await t.run(["exec", id, "--", "cat", "from-host.txt"]);
    assert.equal(seen.stdout, "host\n");
    const wrote = await t.run(["exec", id, "--", "sh", "-c", "echo guest > from-guest.txt"]);
    assert.equal(wrote.code, 0, wrote.stderr);
    assert.equal(readFileSync(join(worktree, "from-guest.txt"), "utf8"), "guest\n");
    const commit = await t.run(["exec", id, "--", "sh", "-c", "git add from-guest.txt && git commit -qm guest && git log --format=%an -1"]);
    assert.equal(commit.code, 0, commit.stderr);
    assert.equal(commit.stdout.trim(), "Dev", "commits inside use the repository's identity");
  });

  test("the rest of the system is read-only; /tmp and home are writable", async () => {
    for (const path of ["/usr/heyvm-probe", "/etc/heyvm-probe", "/heyvm-probe"]) {
      const result = await t.run(["exec", id, "--", "sh", "-c", `echo x > ${path}`]);
      assert.notEqual(result.code, 0, `writing ${path} must fail`);
    }
    const ok = await t.run(["exec", id, "--", "sh", "-c", "echo x > /tmp/a && echo x > ~/b && id -un"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), "heyo");
    const caps = await t.run(["exec", id, "--", "sh", "-c", "grep CapEff /proc/self/status"]);
    assert.match(caps.stdout, /CapEff:\s+0+$/m, "no capabilities inside");
    const ps = await t.run(["exec", id, "--", "sh", "-c", "ls /proc | grep -c '^[0-9]'"]);
    assert.ok(Number(ps.stdout.trim()) < 10, "private pid namespace");
  });

  test("wt --detach again reuses the live owner", async () => {
    const before = ownerJson(t, id).pid;
    const again = await t.run(["wt", "feature/my-change", "--detach"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(idOf(again.stdout), id);
    assert.equal(ownerJson(t, id).pid, before);
  });

  test("concurrent wt --detach for one branch ends with one owner and one id", async () => {
    const results = await Promise.all([1, 2, 3, 4].map(() => t.run(["wt", "feature/parallel", "--detach"])));
    for (const result of results) assert.equal(result.code, 0, result.stderr);
    const ids = new Set(results.map((r) => idOf(r.stdout)));
    assert.equal(ids.size, 1, `all print the same id, got ${[...ids].join(", ")}`);
    const [only] = [...ids];
    const owners = ownerPids(t.home).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(only ?? "?"));
    assert.equal(owners.length, 1);
    const all = readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, "utf8");
        return cmd.includes("__sandbox_owner") && cmd.includes(only ?? "?");
      } catch {
        return false;
      }
    });
    assert.equal(all.length, 1, "exactly one owner process on the machine for that sandbox");
    assert.equal(git(t.repo, "worktree", "list").split("\n").filter((l) => l.includes("feature-parallel")).length, 1);
  });

  test("kill -9 of the owner: stopped at once, nothing left running, wt --detach starts afresh", async () => {
    const owner = ownerJson(t, id);
    const machine = owner.machine as { initPid: number };
    const background = await t.run(["exec", id, "--", "sh", "-c", "setsid sleep 31337 >/dev/null 2>&1 & echo started"]);
    assert.equal(background.stdout.trim(), "started");
    assert.ok(sandboxProcesses(machine.initPid).length >= 2);
    process.kill(owner.pid as number, "SIGKILL");
    const list = await t.run(["list", "--all", "--json"]);
    const row = (JSON.parse(list.stdout) as Array<Record<string, unknown>>).find((r) => r.id === id);
    assert.equal(row?.state, "stopped");
    await waitFor(() => !isAlive(machine.initPid), 5000, "the sandbox init to die with its owner");
    assert.deepEqual(sandboxProcesses(machine.initPid), []);
    const exec = await t.run(["exec", id, "--", "true"]);
    assert.notEqual(exec.code, 0);
    assert.match(exec.stderr, /stopped/);
    const again = await t.run(["wt", "feature/my-change", "--detach"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(idOf(again.stdout), id);
    assert.notEqual(ownerJson(t, id).pid, owner.pid);
  });

  test("an owner.json from another boot or a reused pid never reads as running", async () => {
    const sandbox = await t.run(["wt", "stale/boot", "--detach"]);
    const staleId = idOf(sandbox.stdout);
    const stop = await t.run(["stop", staleId]);
    assert.equal(stop.code, 0, stop.stderr);
    const path = join(t.home, "sandboxes", staleId, "owner.json");
    const fake = { pid: process.pid, pidStartTime: "1", bootId: "00000000-0000-0000-0000-000000000000", startedAt: new Date().toISOString(), state: "running", mode: "detached", backend: "bubblewrap", guestIp: null, ssh: null, machine: {} };
    writeFileSync(path, JSON.stringify(fake));
    let rows = JSON.parse((await t.run(["list", "--all", "--json"])).stdout) as Array<Record<string, unknown>>;
    assert.equal(rows.find((r) => r.id === staleId)?.state, "stopped", "other boot");
    const bootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    writeFileSync(path, JSON.stringify({ ...fake, bootId, pidStartTime: "1" }));
    rows = JSON.parse((await t.run(["list", "--all", "--json"])).stdout) as Array<Record<string, unknown>>;
    assert.equal(rows.find((r) => r.id === staleId)?.state, "stopped", "pid reused by another process");
  });

  test("stop is idempotent and logs -f ends when the sandbox stops", async () => {
    const follower = t.spawn(["logs", id, "-f"]);
    let followed = "";
    follower.stdout?.setEncoding("utf8").on("data", (d: string) => (followed += d));
    const ended = new Promise<number | null>((resolve) => follower.on("close", (code) => resolve(code)));
    await waitFor(() => followed.includes("sandbox ready"), 10_000, "logs -f to print the log");
    const first = await t.run(["stop", id]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /stopped/);
    assert.equal(await ended, 0, "logs -f ended by itself");
    assert.match(followed, /exiting: heyvm stop/);
    const second = await t.run(["stop", id]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /was not running/);
  });

  test("--no-network cuts the network; network is on by default", async () => {
    const cut = await t.run(["wt", "net/off", "--detach", "--no-network"]);
    assert.equal(cut.code, 0, cut.stderr);
    const devices = await t.run(["exec", idOf(cut.stdout), "--", "sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"]);
    assert.deepEqual(devices.stdout.trim().split("\n"), ["lo"]);
    const shared = await t.run(["exec", "feature/parallel", "--", "sh", "-c", "tail -n +3 /proc/net/dev | wc -l"]);
    assert.ok(Number(shared.stdout.trim()) >= 1);
    await t.run(["stop", idOf(cut.stdout)]);
  });

  test("--image runs on an image's root filesystem instead of the host's", async () => {
    const rootfs = join(t.home, "images", "bubblewrap", "mini", "rootfs");
    for (const dir of ["bin", "etc", "usr/bin", "tmp"]) mkdirSync(join(rootfs, dir), { recursive: true });
    writeFileSync(join(rootfs, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    writeFileSync(join(rootfs, "etc", "group"), "root:x:0:\n");
    writeFileSync(join(rootfs, "etc", "os-release"), "ID=heyvm-mini\n");
    writeFileSync(join(t.home, "images", "bubblewrap", "mini", "image.json"), JSON.stringify({ name: "mini", backend: "bubblewrap", createdAt: new Date().toISOString(), files: { rootfs: "rootfs" }, checksums: {}, sizeBytes: 0, details: {} }));
    const { copyFileSync, symlinkSync } = await import("node:fs");
    copyFileSync("/bin/busybox", join(rootfs, "bin", "busybox"));
    for (const applet of ["sh", "cat", "ls", "sleep", "echo", "id"]) symlinkSync("busybox", join(rootfs, "bin", applet));
    const started = await t.run(["wt", "image/mini", "--detach", "--image", "mini"]);
    assert.equal(started.code, 0, started.stderr);
    const release = await t.run(["exec", idOf(started.stdout), "--", "cat", "/etc/os-release"]);
    assert.equal(release.stdout, "ID=heyvm-mini\n");
    const images = await t.run(["images", "list", "--json"]);
    assert.ok((JSON.parse(images.stdout) as Array<{ name: string }>).some((i) => i.name === "mini"));
    const missing = await t.run(["wt", "image/none", "--detach", "--image", "does-not-exist"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /image "does-not-exist"/);
    await t.run(["stop", idOf(started.stdout)]);
  });

  test("the user's uncommitted changes were never touched", () => {
    assert.equal(readFileSync(join(t.repo, "README.md"), "utf8"), "hello\nuncommitted change\n");
    assert.equal(readFileSync(join(t.repo, "untracked.txt"), "utf8"), "mine\n");
    assert.equal(git(t.repo, "status", "--porcelain"), " M README.md\n?? untracked.txt\n");
  });
});
