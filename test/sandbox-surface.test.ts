// The local command surface of issue 21 on bubblewrap, through bin/heyvm as a client drives it
// (`--format json` parsed): session reset, run-host, resize, mount-add and named volumes. One
// worktree sandbox serves every case but the volume's, which needs sandboxes made and removed;
// heyvm as a regular user (hvsurfacea1) gets a volume of its own.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, realpathSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { HEYVM, bubblewrapMissing, isAlive, makeTestEnv, ownerPids, waitFor, type TestEnv } from "./helpers/env.js";
import { assertRefused, jsonOf } from "./helpers/cli-result.js";
import { makeTestUser, runAs, type TestUser } from "./helpers/test-user.js";

const skip = bubblewrapMissing();
if (skip) console.log(`# skipping the command surface tests: ${skip}`);


/** The memory limit of a bubblewrap sandbox's cgroup on the host (v1 or v2), in bytes. */
function cgroupMemory(id: string): number | undefined {
  for (const file of [`/sys/fs/cgroup/memory/heyvm/${id}/memory.limit_in_bytes`, `/sys/fs/cgroup/heyvm/${id}/memory.max`]) {
    if (existsSync(file)) return Number(readFileSync(file, "utf8").trim());
  }
  return undefined;
}

describe("session reset, run-host, resize, mount-add, volumes (bubblewrap)", { skip }, () => {
  let t: TestEnv;
  let id = "";
  let worktree = "";

  before(async () => {
    t = makeTestEnv("heyvm-surface-");
    const started = jsonOf<{ id: string; worktree: string }>(await t.run(["wt", "feature/surface", "--detach", "--backend", "bubblewrap", "--format", "json"]));
    id = started.id;
    worktree = started.worktree;
  });
  after(async () => {
    await t?.cleanup();
  });

  test("session reset: the session's folder and variables start afresh; a missing one says so", async () => {
    assert.equal((await t.run(["exec", id, "--session", "s1", "--", "cd", "/tmp"])).code, 0);
    assert.equal((await t.run(["exec", id, "--session", "s1", "--", "export", "MARK=kept"])).code, 0);
    const kept = await t.run(["exec", id, "--session", "s1", "--", "sh", "-c", "pwd; echo $MARK"]);
    assert.equal(kept.stdout, "/tmp\nkept\n", kept.stderr);
    assert.deepEqual(jsonOf(await t.run(["session", "reset", id, "s1", "--format", "json"])), { id, session: "s1", existed: true });
    const fresh = await t.run(["exec", id, "--session", "s1", "--", "sh", "-c", "pwd; echo x$MARK"]);
    assert.equal(fresh.stdout, "/workspace\nx\n", fresh.stderr);
    assert.deepEqual(jsonOf(await t.run(["session", "reset", id, "never-used", "--format", "json"])), { id, session: "never-used", existed: false });
    assertRefused(await t.run(["session", "reset", id, "../etc"]), 2, /session name is letters/);
    assertRefused(await t.run(["session", "reset", "sb-00000000", "s1"]), 3, /no sandbox matches/);
  });

  test("run-host: the command runs on the host in the worktree, its exit code and output kept; heyvm's own mounts are refused", async () => {
    const raw = await t.run(["run-host", id, "--format", "json", "--", "sh", "-c", "pwd; echo $HEYVM_SANDBOX_ID; git status --porcelain; exit 3"]);
    assert.equal(raw.code, 3, "the command's exit code, under --format json too");
    const ran = JSON.parse(raw.stdout) as { host_path: string; exit_code: number; stdout: string };
    assert.equal(ran.host_path, worktree);
    assert.equal(ran.exit_code, 3);
    assert.equal(ran.stdout, `${worktree}\n${id}\n`);
    const plain = await t.run(["run-host", id, "--", "sh", "-c", "exit 5"]);
    assert.equal(plain.code, 5);
    assertRefused(await t.run(["run-host", id, "--mount-path", "/heyvm/git", "--", "ls"]), 2, /heyvm's own mount/);
    assertRefused(await t.run(["run-host", id, "--mount-path", "/nowhere", "--", "ls"]), 2, /has no mount at \/nowhere/);
    assertRefused(await t.run(["run-host", id, "--"]), 2, /no command given|missing required argument/);
    assertRefused(await t.run(["run-host", "dep-00000000", "--", "ls"]), 2, /cloud sandbox/);
  });

  test("resize: a running bubblewrap sandbox's cgroup takes the new memory at once; the record keeps it", async () => {
    const result = jsonOf<{ applied: string; cpus: number; memory_mib: number; running: boolean; notes: string[] }>(await t.run(["resize", id, "--cpus", "1", "--memory", "300M", "--format", "json"]));
    assert.equal(result.running, true);
    assert.equal(result.cpus, 1);
    assert.equal(result.memory_mib, 300);
    const spec = JSON.parse(readFileSync(join(t.home, "sandboxes", id, "sandbox.json"), "utf8")) as { cpus: number; memoryMiB: number };
    assert.deepEqual([spec.cpus, spec.memoryMiB], [1, 300]);
    if (process.getuid?.() === 0) {
      assert.equal(result.applied, "now", result.notes.join("; "));
      assert.equal(cgroupMemory(id), 300 * 1024 * 1024, "the host's cgroup has the new bound");
      const medium = jsonOf<{ memory_mib: number; applied: string }>(await t.run(["resize", id, "--size-class", "mini", "--format", "json"]));
      assert.equal(medium.memory_mib, 1024);
      assert.equal(cgroupMemory(id), 1024 * 1024 * 1024, "raised again (v1: memory+swap first)");
    }
    assertRefused(await t.run(["resize", id]), 2, /needs --size-class, --cpus or --memory/);
    assertRefused(await t.run(["resize", id, "--size-class", "huge"]), 2, /Allowed choices are micro, mini, small, medium, large, xlarge/);
    assertRefused(await t.run(["resize", id, "--memory", "lots"]), 2, /--memory takes a size/);
  });

  test("mount-add: refuses heyvm's state, a .git and heyvm's sandbox paths; a good one is in force from the next start, read-only when asked", async () => {
    const data = join(t.root, "data");
    mkdirSync(data);
    writeFileSync(join(data, "f.txt"), "payload\n");
    assertRefused(await t.run(["mount-add", "--id", id, "--host-path", t.home, "--sandbox-path", "/x"]), 2, /a sandbox must not see/);
    assertRefused(await t.run(["mount-add", "--id", id, "--host-path", join(t.home, "sandboxes"), "--sandbox-path", "/x"]), 2, /lies inside/);
    assertRefused(await t.run(["mount-add", "--id", id, "--host-path", t.repo, "--sandbox-path", "/x"]), 2, /\.git/);
    assertRefused(await t.run(["mount-add", "--id", id, "--host-path", join(t.repo, ".git"), "--sandbox-path", "/x"]), 2, /\.git/);
    assertRefused(await t.run(["mount-add", "--id", id, "--host-path", "/", "--sandbox-path", "/x"]), 2, /contains/);
    assertRefused(await t.run(["mount-add", "--id", id, "--host-path", data, "--sandbox-path", "/workspace/.git/x"]), 2, /heyvm keeps for itself/);
    assertRefused(await t.run(["mount-add", "--id", id, "--host-path", data, "--sandbox-path", "/workspace"]), 2, /sandbox's own/);
    assertRefused(await t.run(["mount-add", "--id", id, "--host-path", data, "--sandbox-path", "/heyvm/x"]), 2, /heyvm keeps for itself/);
    assertRefused(await t.run(["mount-add", "--id", id, "--host-path", data, "--sandbox-path", "/a/../b"]), 2, /normalised/);
    assertRefused(await t.run(["mount-add", "--id", id, "--host-path", join(t.root, "missing"), "--sandbox-path", "/x"]), 2, /does not exist/);
    const added = jsonOf<{ applied: string; running: boolean; host_path: string; read_only: boolean }>(await t.run(["mount-add", "--id", id, "--host-path", data, "--sandbox-path", "/data", "--ro", "--format", "json"]));
    assert.deepEqual(added, { id, host_path: realpathSync(data), sandbox_path: "/data", read_only: true, running: true, applied: "next-start" });
    assertRefused(await t.run(["mount-add", "--id", id, "--host-path", data, "--sandbox-path", "/data/inner"]), 2, /overlaps/);
    assert.notEqual((await t.run(["exec", id, "--", "cat", "/data/f.txt"])).code, 0, "not in force while it runs");
    assert.equal((await t.run(["restart", id])).code, 0);
    const read = await t.run(["exec", id, "--", "cat", "/data/f.txt"]);
    assert.equal(read.stdout, "payload\n", read.stderr);
    const write = await t.run(["exec", id, "--", "sh", "-c", "echo x > /data/g.txt"]);
    assert.notEqual(write.code, 0, "read-only inside");
    assert.equal(existsSync(join(data, "g.txt")), false);
    const host = jsonOf<{ stdout: string }>(await t.run(["run-host", id, "--mount-path", "/data", "--format", "json", "--", "cat", "f.txt"]));
    assert.equal(host.stdout, "payload\n", "run-host runs in an added mount's host folder");
    // wt on the stopped sandbox keeps the user's mount (only heyvm's own are made anew)
    assert.equal((await t.run(["stop", id])).code, 0);
    assert.equal((await t.run(["wt", "feature/surface", "--detach"])).code, 0);
    assert.equal((await t.run(["exec", id, "--", "cat", "/data/f.txt"])).stdout, "payload\n");
  });

  test("volumes: a volume outlives its sandbox, mounts into the next one, is refused in use, and goes only with --purge; links left in it are never followed", async () => {
    const made = jsonOf<{ name: string; path: string; used_by: string[] }>(await t.run(["volume", "create", "cache", "--format", "json"]));
    assert.equal(made.name, "cache");
    assert.deepEqual(made.used_by, []);
    assert.equal((await t.run(["volume", "path", "cache"])).stdout, `${made.path}\n`);
    assertRefused(await t.run(["volume", "create", "cache"]), 4, /exists already/);
    assertRefused(await t.run(["volume", "create", "../x"]), 2, /not a volume name/);
    assertRefused(await t.run(["create", "--backend", "bubblewrap", "--volume", "cache:/workspace/.git/x"]), 2, /heyvm keeps for itself/);
    assertRefused(await t.run(["volume", "path", "nosuch"]), 3, /no volume named nosuch/);

    const first = jsonOf<{ id: string }>(await t.run(["create", "--backend", "bubblewrap", "--volume", "cache:/cache", "--volume", "fresh", "--format", "json"]));
    const wrote = await t.run(["exec", first.id, "--", "sh", "-c", "echo one > /cache/f && ln -s /etc/passwd /cache/link && mkdir /cache/d && echo two > /volumes/fresh/g && id -u"]);
    assert.equal(wrote.code, 0, wrote.stderr);
    assert.notEqual(wrote.stdout.trim(), "0", "the sandbox is not root inside");
    const list = jsonOf<Array<{ name: string; used_by: string[] }>>(await t.run(["volume", "list", "--format", "json"]));
    assert.deepEqual(list.map((v) => [v.name, v.used_by]), [["cache", [first.id]], ["fresh", [first.id]]], "--volume made the missing one");
    assertRefused(await t.run(["volume", "rm", "cache", "-y"]), 4, new RegExp(`in use by ${first.id}`));
    assert.equal((await t.run(["rm", first.id, "-y"])).code, 0);

    // on the host: what the sandbox made is the volume owner's again, nothing setuid, the link a link
    const owner = lstatSync(made.path).uid;
    for (const name of readdirSync(made.path)) assert.equal(lstatSync(join(made.path, name)).uid, owner, `${name} handed back to the volume's owner`);
    assert.equal(lstatSync(join(made.path, "link")).isSymbolicLink(), true);

    const second = jsonOf<{ id: string }>(await t.run(["create", "--backend", "bubblewrap", "--volume", "cache:/cache", "--format", "json"]));
    const read = await t.run(["exec", second.id, "--", "sh", "-c", "cat /cache/f && echo three >> /cache/f"]);
    assert.equal(read.stdout, "one\n", read.stderr);
    assert.equal((await t.run(["rm", second.id, "-y"])).code, 0);
    assertRefused(await t.run(["volume", "rm", "cache", "-y"]), 4, /holds files.*\n.*--purge/);
    const passwd = readFileSync("/etc/passwd", "utf8");
    assert.deepEqual(jsonOf(await t.run(["volume", "rm", "cache", "-y", "--purge", "--format", "json"])), { name: "cache", removed: true, purged: true });
    assert.equal(existsSync(made.path), false);
    assert.equal(readFileSync("/etc/passwd", "utf8"), passwd, "the link was removed, not followed");
    assert.deepEqual(jsonOf(await t.run(["volume", "rm", "fresh", "-y", "--purge", "--format", "json"])), { name: "fresh", removed: true, purged: true });
  });
});

/** The pids whose real uid is uid (the test user's own processes, by their /proc status). */
function processesOf(uid: number): number[] {
  return readdirSync("/proc").filter((name) => /^\d+$/.test(name)).map(Number).filter((pid) => {
    try {
      return new RegExp(`^Uid:\\s+${uid}\\s`, "m").test(readFileSync(`/proc/${pid}/status`, "utf8"));
    } catch {
      return false;
    }
  });
}

describe("volumes with heyvm run as a regular user", { skip: skip || (process.getuid?.() !== 0 ? "needs root to make the test user" : false) }, () => {
  let user: TestUser | undefined;
  let root = "";
  before(() => {
    const t = makeTestEnv("heyvm-surface-user-");
    root = t.root;
    user = makeTestUser("hvsurfacea1", root);
    spawnSync("chown", ["-R", `${user.uid}:${user.gid}`, root]);
  });
  after(async () => {
    const heyo = join(root, "heyo");
    const pids = ownerPids(heyo);
    for (const pid of pids) process.kill(pid, "SIGTERM");
    await waitFor(() => pids.every((pid) => !isAlive(pid)), 20_000, "owners to stop").catch(() => pids.forEach((pid) => isAlive(pid) && process.kill(pid, "SIGKILL")));
    // what ran as the test user (a libvirt session daemon a backend probe may have started) ends with it
    if (user) for (const pid of processesOf(user.uid)) process.kill(pid, "SIGKILL");
    user?.remove();
    spawnSync("rm", ["-rf", root]);
  });

  test("the volume is the user's folder; a sandbox writes it; purge removes it", async () => {
    if (!user) throw new Error("no test user");
    const repo = join(root, "repo");
    const heyvm = (args: string[]) => runAs(user, [HEYVM, ...args], { cwd: repo, env: { HEYO_HOME: join(root, "heyo") } });
    const made = await heyvm(["create", "--backend", "bubblewrap", "--volume", "mine:/mine", "--format", "json"]);
    assert.equal(made.code, 0, made.stderr);
    const sandbox = (JSON.parse(made.stdout) as { id: string }).id;
    const path = (await heyvm(["volume", "path", "mine"])).stdout.trim();
    assert.equal(lstatSync(path).uid, user.uid);
    const wrote = await heyvm(["exec", sandbox, "--", "sh", "-c", "echo x > /mine/f"]);
    assert.equal(wrote.code, 0, wrote.stderr);
    assert.equal(lstatSync(join(path, "f")).uid, user.uid);
    assert.equal((await heyvm(["volume", "rm", "mine", "-y", "--purge"])).code, 4, "in use");
    assert.equal((await heyvm(["rm", sandbox, "-y"])).code, 0);
    const removed = await heyvm(["volume", "rm", "mine", "-y", "--purge"]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(existsSync(path), false);
  });
});
