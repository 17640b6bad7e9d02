// heyvm's scripting dialect, driven from the outside as scripts and SDKs drive it: through
// bin/heyvm, output parsed as a client parses it, on bubblewrap.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bubblewrapMissing, idOf, isAlive, makeTestEnv, waitFor, type TestEnv } from "./helpers/env.js";

const skip = bubblewrapMissing();

interface SandboxJson {
  id: string;
  name: string;
  status: string;
  backend: string;
  image: string | null;
  branch: string | null;
  worktree: string;
  guest_ip: string | null;
  created_at: string;
  port_mappings: Array<{ host_port: number; guest_port: number }>;
}

function json<T>(stdout: string): T {
  return JSON.parse(stdout) as T;
}

describe("heyvm's scripting dialect", { skip }, () => {
  let t: TestEnv;
  let id = "";
  before(() => {
    t = makeTestEnv();
  });
  after(async () => t.cleanup());

  test("wt prints ID: <id>; --print-id and -q print the bare id; -b is accepted", async () => {
    const first = await t.run(["wt", "-b", "feature/dialect", "--detach", "--backend", "bubblewrap"]);
    assert.equal(first.code, 0, first.stderr);
    id = idOf(first.stdout);
    assert.match(id, /^sb-[0-9a-f]{8}$/);
    const bare = await t.run(["wt", "feature/dialect", "--detach", "--print-id"]);
    assert.equal(bare.stdout, `${id}\n`);
    const quiet = await t.run(["wt", "--create-branch", "feature/dialect", "--detach", "-q"]);
    assert.equal(quiet.stdout, `${id}\n`);
    const asJson = json<{ id: string; status: string }>((await t.run(["wt", "feature/dialect", "--detach", "--format", "json"])).stdout);
    assert.equal(asJson.id, id);
    assert.equal(asJson.status, "running");
  });

  test("list and get speak snake_case JSON with --format json; --format table is the table", async () => {
    const list = await t.run(["list", "--format", "json"]);
    assert.equal(list.code, 0, list.stderr);
    const row = json<SandboxJson[]>(list.stdout).find((r) => r.id === id);
    assert.ok(row, "listed");
    for (const key of ["id", "name", "status", "backend", "image", "branch", "worktree", "guest_ip", "created_at", "port_mappings"]) assert.ok(key in row, `${key} in a sandbox object`);
    assert.equal(row.status, "running");
    assert.equal(row.branch, "feature/dialect");
    assert.deepEqual(json<SandboxJson[]>((await t.run(["list", "--json"])).stdout), json<SandboxJson[]>(list.stdout), "--json is the same JSON");
    const get = await t.run(["get", id, "--format", "json"]);
    assert.equal(get.code, 0, get.stderr);
    const one = json<SandboxJson & { ssh: string | null }>(get.stdout);
    assert.equal(one.id, id);
    assert.equal(one.worktree, join(t.root, "feature-dialect"));
    assert.ok("guest_ip" in one && "ssh" in one);
    const table = await t.run(["list", "--format", "table"]);
    assert.match(table.stdout, /^ID\s+NAME\s+STATE/m);
  });

  test("exec --format json: {exit_code, stdout, stderr}, and the command's exit code", async () => {
    const result = await t.run(["exec", id, "--format", "json", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert.equal(result.code, 3);
    assert.deepEqual(json<{ exit_code: number; stdout: string; stderr: string }>(result.stdout), { exit_code: 3, stdout: "out\n", stderr: "err\n", timed_out: false });
    const before = await t.run(["exec", "--format", "json", id, "--", "true"]);
    assert.equal(json<{ exit_code: number }>(before.stdout).exit_code, 0, "options before the id too");
  });

  test("exec options between the id and --: --cwd, --env; without -- everything is the command", async () => {
    mkdirSync(join(t.root, "feature-dialect", "sub"), { recursive: true });
    const result = await t.run(["exec", id, "--cwd", "/workspace/sub", "--env", "GREETING=hi", "-e", "OTHER=x", "--", "sh", "-c", 'echo "$PWD $GREETING $OTHER"']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "/workspace/sub hi x\n");
    const plain = await t.run(["exec", id, "echo", "--cwd", "is-an-argument"]);
    assert.equal(plain.stdout, "--cwd is-an-argument\n");
    const bad = await t.run(["exec", id, "--bogus", "--", "true"]);
    assert.equal(bad.code, 2);
    assert.doesNotMatch(bad.stderr, /\n\s+at /);
  });

  test("exec --timeout ends the command, says so and exits 124", async () => {
    const started = Date.now();
    const result = await t.run(["exec", id, "--timeout", "1s", "--", "sleep", "30"]);
    assert.equal(result.code, 124, result.stderr);
    assert.match(result.stderr, /ended after --timeout 1s/);
    assert.ok(Date.now() - started < 20_000, "ended long before the command would have");
    const asJson = json<{ exit_code: number; timed_out: boolean }>((await t.run(["exec", id, "--format", "json", "--timeout", "500ms", "--", "sleep", "30"])).stdout);
    assert.deepEqual([asJson.exit_code, asJson.timed_out], [124, true]);
    const bad = await t.run(["exec", id, "--timeout", "soon", "--", "true"]);
    assert.equal(bad.code, 2);
  });

  test("exec --session keeps the working folder and exported variables between calls", async () => {
    const first = await t.run(["exec", id, "--session", "s1", "--", "cd", "/tmp"]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal((await t.run(["exec", id, "--session", "s1", "--", "export", "FOO=bar"])).code, 0);
    const third = await t.run(["exec", id, "--session", "s1", "--", "sh", "-c", 'echo "$PWD $FOO"']);
    assert.equal(third.stdout, "/tmp bar\n");
    const other = await t.run(["exec", id, "--session", "s2", "--", "sh", "-c", 'echo "$PWD ${FOO:-unset}"']);
    assert.equal(other.stdout, "/workspace unset\n", "sessions are apart");
    const exit = await t.run(["exec", id, "--session", "s1", "--", "false"]);
    assert.equal(exit.code, 1);
  });

  test("stop, start (same id, same worktree), start of a running sandbox, restart", async () => {
    const stopped = json<{ id: string; was_running: boolean }>((await t.run(["stop", id, "--format", "json"])).stdout);
    assert.deepEqual(stopped, { id, name: "wt-feature-dialect", was_running: true, cleaned: [] });
    const start = await t.run(["start", id]);
    assert.equal(start.code, 0, start.stderr);
    assert.equal(idOf(start.stdout), id);
    assert.equal(json<SandboxJson>((await t.run(["get", id, "--json"])).stdout).worktree, join(t.root, "feature-dialect"));
    const again = await t.run(["start", id]);
    assert.equal(again.code, 4);
    assert.equal(again.stderr.split("\n")[0], `heyvm: sandbox ${id} (wt-feature-dialect) is already running`);
    const pidBefore = json<{ pid: number }>((await t.run(["get", id, "--json"])).stdout).pid;
    const restart = await t.run(["restart", id, "--format", "json"]);
    assert.equal(restart.code, 0, restart.stderr);
    const after = json<SandboxJson & { pid: number }>(restart.stdout);
    assert.equal(after.status, "running");
    assert.notEqual(after.pid, pidBefore);
  });

  test("--format yaml and unknown global flags are usage errors; --cloud-url is accepted everywhere", async () => {
    const yaml = await t.run(["list", "--format", "yaml"]);
    assert.equal(yaml.code, 2);
    assert.match(yaml.stderr, /yaml/);
    const global = await t.run(["--cloud-url", "http://127.0.0.1:9", "list", "--json"]);
    assert.equal(global.code, 0, global.stderr);
    const after = await t.run(["get", id, "--cloud-url", "http://127.0.0.1:9", "--json"]);
    assert.equal(after.code, 0, after.stderr);
    const bogus = await t.run(["--bogus", "list"]);
    assert.equal(bogus.code, 2);
  });

  test("rm: -y needed without a terminal; --worktree refuses uncommitted changes unless --force", async () => {
    const refused = await t.run(["rm", id]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /needs -y/);
    const worktree = join(t.root, "feature-dialect");
    writeFileSync(join(worktree, "work.txt"), "unsaved\n");
    const dirty = await t.run(["rm", id, "-y", "--worktree"]);
    assert.equal(dirty.code, 4);
    assert.match(dirty.stderr, /uncommitted changes/);
    assert.equal(readFileSync(join(worktree, "work.txt"), "utf8"), "unsaved\n", "nothing was removed");
    assert.equal(json<SandboxJson>((await t.run(["get", id, "--json"])).stdout).status, "running", "nor stopped");
    const owner = json<{ pid: number }>((await t.run(["get", id, "--json"])).stdout).pid;
    const removed = await t.run(["rm", id, "-y", "--worktree", "--force", "--format", "json"]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual(json<Record<string, unknown>>(removed.stdout), { id, name: "wt-feature-dialect", was_running: true, removed_worktree: worktree });
    assert.ok(!existsSync(worktree));
    assert.ok(!existsSync(join(t.home, "sandboxes", id)));
    assert.ok(!isAlive(owner));
    assert.equal((await t.run(["get", id])).code, 3);
  });

  test("create: a sandbox of its own, with mounts, env, working directory, start command and port mappings", async () => {
    const project = join(t.root, "project");
    mkdirSync(project);
    writeFileSync(join(project, "data.txt"), "shared\n");
    const created = await t.run(["create", "--name", "scratch", "--mount", `${project}:/workspace`, "--env", "MODE=test", "--working-directory", "/tmp", "--open-port", "18089:8080", "--start-command", "echo started > /workspace/started.txt", "--format", "json"]);
    assert.equal(created.code, 0, created.stderr);
    const info = json<{ id: string; name: string; status: string; port_mappings: Array<{ host_port: number; guest_port: number }> }>(created.stdout);
    assert.equal(info.name, "scratch");
    assert.equal(info.status, "running");
    assert.deepEqual(info.port_mappings, [{ host_port: 18089, guest_port: 8080 }], "the host port asked for");
    const run = await t.run(["exec", "scratch", "--", "sh", "-c", 'echo "$PWD $MODE $(cat /workspace/data.txt)"']);
    assert.equal(run.stdout, "/tmp test shared\n");
    await waitFor(() => existsSync(join(project, "started.txt")), 10_000, "the start command to run");
    const empty = await t.run(["create", "--print-id"]);
    assert.equal(empty.code, 0, empty.stderr);
    const emptyId = empty.stdout.trim();
    assert.match(emptyId, /^sb-[0-9a-f]{8}$/);
    assert.equal((await t.run(["exec", emptyId, "--", "ls", "-A", "/workspace"])).stdout, "", "an empty /workspace");
    const clash = await t.run(["create", "--name", "scratch"]);
    assert.equal(clash.code, 4);
    for (const sandbox of [info.id, emptyId]) assert.equal((await t.run(["rm", sandbox, "-y"])).code, 0);
  });

  test("create --ttl-seconds stops the sandbox when it runs out; prune removes sandboxes whose worktree is gone", async () => {
    const created = await t.run(["create", "--ttl-seconds", "2", "--print-id"]);
    assert.equal(created.code, 0, created.stderr);
    const ttlId = created.stdout.trim();
    await waitFor(async () => json<SandboxJson>((await t.run(["get", ttlId, "--json"])).stdout).status === "stopped", 30_000, "the TTL to stop the sandbox");
    assert.match(json<{ last_exit: string }>((await t.run(["get", ttlId, "--json"])).stdout).last_exit, /TTL ran out/);
    const contradiction = await t.run(["create", "--ttl-seconds", "5", "--no-ttl"]);
    assert.equal(contradiction.code, 2);

    const wt = await t.run(["wt", "feature/gone", "--detach"]);
    const goneId = idOf(wt.stdout);
    await t.run(["stop", goneId]);
    await t.run(["rm", ttlId, "-y"]);
    const { rmSync } = await import("node:fs");
    rmSync(join(t.root, "feature-gone"), { recursive: true, force: true });
    const pruned = json<Array<{ id: string }>>((await t.run(["prune", "--json"])).stdout);
    assert.deepEqual(pruned.map((p) => p.id), [goneId]);
    assert.equal((await t.run(["get", goneId])).code, 3);
  });
});
