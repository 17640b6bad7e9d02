// create's cloud flags, list local+cloud, dep- ids for start/restart/rm/bind/unbind/wait-for and
// login --auth-url (issue 21), through bin/heyvm and parsed as an SDK parses them: real
// bubblewrap sandboxes here and a real `heyvm server` on 127.0.0.1 whose deployment is one too.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bubblewrapMissing, hasCommand, makeTestEnv, type TestEnv } from "./helpers/env.js";
import { createToken, startCloudServer, type CloudServer } from "./helpers/cloud-server.js";

const skip = bubblewrapMissing() || (!hasCommand("busybox") ? "busybox (its httpd serves in the sandbox) is not installed" : false);
if (skip) console.log(`# skipping create/list cloud-flag tests: ${skip}`);

interface Row {
  id: string;
  name: string;
  status: string;
  location?: string;
  created?: boolean;
  port_mappings?: Array<{ host_port: number; guest_port: number }>;
}

describe("create's cloud flags, list local+cloud, dep- ids everywhere", { skip }, () => {
  let t: TestEnv;
  let server: CloudServer;
  let project = "";
  let localId = "";
  let cloudId = "";
  const json = <T>(stdout: string) => JSON.parse(stdout) as T;

  before(async () => {
    t = makeTestEnv("heyvm-create-cloud-");
    server = await startCloudServer({ dataDir: join(t.root, "srv") });
    project = join(t.root, "project");
    mkdirSync(project);
    writeFileSync(join(project, "index.html"), "project page\n");
  });
  after(async () => {
    await server?.cleanup();
    await t?.cleanup();
  });

  test("create --slug --port --setup-hook --health-path locally: hooks once, before the start command; the second create finds it", async () => {
    const args = ["create", "--backend", "bubblewrap", "--slug", "api", "--mount", `${project}:/workspace`, "--port", "8000", "--setup-hook", "echo one > /workspace/hook.txt", "--setup-hook", "echo two >> /workspace/hook.txt"];
    const created = await t.run([...args, "--start-command", "busybox httpd -f -p 8000 -h /workspace", "--health-path", "/hook.txt", "--format", "json"]);
    assert.equal(created.code, 0, created.stderr);
    const row = json<Row>(created.stdout);
    assert.equal(row.created, true);
    assert.equal(row.name, "api");
    localId = row.id;
    const mapping = row.port_mappings?.find((m) => m.guest_port === 8000);
    assert.ok(mapping, JSON.stringify(row));
    assert.equal(await (await fetch(`http://127.0.0.1:${mapping.host_port}/hook.txt`)).text(), "one\ntwo\n", "the health path answered: the hooks ran, in order, before the service");
    const again = await t.run([...args, "--format", "json"]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual([json<Row>(again.stdout).id, json<Row>(again.stdout).created], [localId, false]);
    assert.equal(readFileSync(join(project, "hook.txt"), "utf8"), "one\ntwo\n", "the hooks did not run again");
  });

  test("a failing setup hook fails the create (exit 6, JSON error) and leaves nothing; cloud-only flags without --cloud are refused", async () => {
    const failed = await t.run(["create", "--backend", "bubblewrap", "--name", "broken", "--setup-hook", "echo about to fail; exit 3", "--format", "json"]);
    assert.equal(failed.code, 6, failed.stderr);
    const error = json<{ error: { message: string } }>(failed.stdout).error;
    assert.match(error.message, /setup hook "echo about to fail; exit 3" failed \(exit 3\); nothing was kept\. Its last output: about to fail/);
    const all = json<Row[]>((await t.run(["list", "--all", "--format", "json"])).stdout);
    assert.deepEqual(all.map((r) => r.name), ["api"]);
    for (const flag of [["--region", "EU"], ["--size-class", "mini"]]) {
      const refused = await t.run(["create", "--backend", "bubblewrap", ...flag]);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, new RegExp(`${flag[0]} is for cloud sandboxes`));
    }
  });

  test("login --auth-url is stored; create --cloud --slug is get-or-create; list shows both sides with a location", async () => {
    const token = createToken(server.dataDir, "alice");
    const login = await t.run(["login", "--api-key", token, "--cloud-url", server.url, "--auth-url", "https://auth.example.test/"]);
    assert.equal(login.code, 0, login.stderr);
    assert.equal((JSON.parse(readFileSync(join(t.home, "config.json"), "utf8")) as { auth_url: string }).auth_url, "https://auth.example.test");
    const args = ["create", "--cloud", "--backend", "bubblewrap", "--slug", "web", "--region", "EU", "--size-class", "mini", "--port", "8000", "--start-command", "busybox httpd -f -p 8000 -h /workspace", "--setup-hook", "echo hooked > /workspace/index.html"];
    const created = await t.run([...args, "--health-path", "/index.html", "--format", "json"], { timeoutMs: 300_000 });
    assert.equal(created.code, 0, created.stderr);
    const deployment = json<Row & { region: string; size_class: string; urls: Array<{ port: number; is_public: boolean }> }>(created.stdout);
    cloudId = deployment.id;
    assert.match(cloudId, /^dep-/);
    assert.deepEqual([deployment.created, deployment.status, deployment.region, deployment.size_class, deployment.name], [true, "running", "EU", "mini", "web"]);
    assert.deepEqual(deployment.urls.map((u) => [u.port, u.is_public]), [[8000, true]]);
    const again = json<Row>((await t.run([...args, "--format", "json"])).stdout);
    assert.deepEqual([again.id, again.created], [cloudId, false]);

    const both = json<Row[]>((await t.run(["list", "--format", "json"])).stdout);
    assert.deepEqual(both.map((r) => [r.id, r.location]), [[localId, "local"], [cloudId, "cloud"]]);
    const table = await t.run(["list"]);
    assert.match(table.stdout, /^LOCATION\s+ID/m);
    assert.match(table.stdout, new RegExp(`^cloud\\s+${cloudId}\\s+web\\s+running`, "m"));
    assert.deepEqual(json<Row[]>((await t.run(["list", "--local", "--format", "json"])).stdout).map((r) => r.id), [localId]);
    const cloudOnly = json<Row[]>((await t.run(["list", "--cloud", "--format", "json"])).stdout);
    assert.deepEqual(cloudOnly.map((r) => [r.id, "location" in r]), [[cloudId, false]], "list --cloud keeps its shape");
    // a cloud that does not answer does not hide the local list
    const down = await t.run(["list", "--format", "json"], { env: { HEYO_CLOUD_URL: "http://127.0.0.1:9" } });
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(json<Row[]>(down.stdout).map((r) => r.id), [localId]);
    assert.match(down.stderr, /the cloud's sandboxes are not listed/);
  });

  test("wait-for, bind --private and unbind of a dep- id", async () => {
    const waited = await t.run(["wait-for", cloudId, "8000", "--path", "/index.html", "--timeout", "60", "--format", "json"]);
    assert.equal(waited.code, 0, waited.stderr);
    assert.equal(json<{ http_status: number }>(waited.stdout).http_status, 200);
    const bound = await t.run(["bind", cloudId, "8000", "--private", "--format", "json"]);
    assert.equal(bound.code, 0, bound.stderr);
    const endpoint = json<{ port: number; host_port: null; url: string; private: boolean }>(bound.stdout);
    assert.deepEqual([endpoint.port, endpoint.host_port, endpoint.private], [8000, null, true]);
    const label = new URL(endpoint.url).hostname.split(".")[0];
    const viaProxy = await fetch(`${server.url}/p/${label}/index.html`);
    assert.equal(viaProxy.status, 401, "a private URL answers only with the token");
    const unbound = await t.run(["unbind", cloudId, "8000", "--format", "json"]);
    assert.equal(unbound.code, 0, unbound.stderr);
    assert.equal(json<{ removed: number }>(unbound.stdout).removed, 2, "the public and the private endpoint");
    const gone = await t.run(["wait-for", cloudId, "8000", "--timeout", "1"]);
    assert.equal(gone.code, 2);
    assert.match(gone.stderr, /port 8000 of dep-\S+ has no endpoint/);
  });

  test("stop, start, restart and rm take the dep- id", async () => {
    assert.equal((await t.run(["stop", cloudId])).code, 0);
    assert.deepEqual(json<Row[]>((await t.run(["list", "--stopped", "--format", "json"])).stdout).map((r) => r.id), [cloudId]);
    const started = await t.run(["start", cloudId, "--format", "json"]);
    assert.equal(started.code, 0, started.stderr);
    assert.equal(json<Row>(started.stdout).status, "running");
    const restarted = await t.run(["restart", cloudId, "--format", "json"]);
    assert.equal(restarted.code, 0, restarted.stderr);
    assert.equal(json<Row>(restarted.stdout).status, "running");
    const noTty = await t.run(["rm", cloudId]);
    assert.equal(noTty.code, 2);
    const removed = await t.run(["rm", cloudId, "-y", "--format", "json"]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual(json<Record<string, unknown>>(removed.stdout), { id: cloudId, name: "web", was_running: true, removed_worktree: null });
    assert.deepEqual(json<Row[]>((await t.run(["list", "--all", "--format", "json"])).stdout).map((r) => r.id), [localId]);
  });
});
