// The self-hosted server's rules, through its HTTP API: input validation, signed uploads and
// their limits, archives that try to write outside /workspace, TTL expiry, what it reports
// after a restart (nothing runs that is not running), and reads that never write.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ArchiveRejectedError, extractArchive } from "../src/server/archives/extract.js";
import { bubblewrapMissing, isAlive, waitFor } from "./helpers/env.js";
import { api, createToken, loopbackUrl, startCloudServer, stopOwners, uploadArchive, type CloudServer } from "./helpers/cloud-server.js";
import { makeTarGz } from "./helpers/cloud-tar.js";
import { freePort } from "../src/shared/free-port.js";

const bwrap = bubblewrapMissing();
if (bwrap) console.log(`# skipping the cloud server tests that run sandboxes: ${bwrap}`);

// the start command of the proxy test serves HTTP with the host's node, seen read-only in the sandbox
const nodeInSandbox = existsSync("/usr/bin/node") ? false : "no /usr/bin/node for the sandbox to serve HTTP with";

const GOOD = makeTarGz([
  { path: "workspace/", type: "dir" },
  { path: "workspace/hello.txt", content: "hello from the archive\n" },
  { path: "workspace/sub/link", type: "symlink", linkpath: "../hello.txt" },
]);

async function deployGood(server: CloudServer, token: string, extra: Record<string, unknown> = {}): Promise<string> {
  const { archiveId, finalize } = await uploadArchive(server, token, GOOD);
  assert.equal(finalize.status, 200, JSON.stringify(finalize.json));
  const created = await api(server, token, "POST", "/sandbox-deploy", { region: "US", image: "ubuntu:24.04", size_class: "small", open_ports: [], driver: "bubblewrap", archive_id: archiveId, ...extra });
  assert.equal(created.status, 202, JSON.stringify(created.json));
  const id = String(created.json.id);
  assert.match(id, /^dep-[0-9a-f]{8}$/);
  await waitFor(async () => (await api(server, token, "GET", `/deployed-sandboxes/${id}`)).json.status !== "provisioning", 30_000, "provisioning to end");
  return id;
}

describe("cloud server API", () => {
  let server: CloudServer;
  let token = "";
  const dataDir = mkdtempSync(join(tmpdir(), "heyvm-cloud-api-"));

  before(async () => {
    server = await startCloudServer({ dataDir, args: ["--max-upload-mb", "1"] });
    token = createToken(dataDir, "alice");
  });
  after(async () => {
    await server?.cleanup();
    await stopOwners(join(dataDir, "h"));
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("requests without a valid token get 401", async () => {
    assert.equal((await api(server, undefined, "GET", "/deployed-sandboxes")).status, 401);
    assert.equal((await api(server, "heyvm_nope", "GET", "/deployed-sandboxes")).status, 401);
  });

  test("malformed JSON gets 400, unknown fields and bad values 422, each with a message", async () => {
    const malformed = await api(server, token, "POST", "/sandbox-deploy", undefined, '{"region": "US",');
    assert.equal(malformed.status, 400);
    assert.match(String(malformed.json.error), /malformed JSON/);
    const unknown = await api(server, token, "POST", "/sandbox-deploy", { region: "US", image: "ubuntu:24.04", open_ports: [], size_class: "small", colour: "blue" });
    assert.equal(unknown.status, 422);
    assert.match(String(unknown.json.error), /colour/);
    const badRegion = await api(server, token, "POST", "/sandbox-deploy", { region: "MARS", image: "ubuntu:24.04" });
    assert.equal(badRegion.status, 422);
    assert.match(String(badRegion.json.error), /region/);
    const badExec = await api(server, token, "POST", "/sandbox/dep-00000000/exec", { command: "true", shell: "bash" });
    assert.equal(badExec.status, 422);
    const notAnObject = await api(server, token, "POST", "/sandbox-archives/presign", undefined, "[1,2]");
    assert.equal(notAnObject.status, 422);
    assert.equal((await api(server, token, "PATCH", "/sandbox-deploy")).status, 405);
    assert.equal((await api(server, token, "GET", "/nope")).status, 404);
  });

  test("an unknown image or driver gets 422 naming what is available", async () => {
    const image = await api(server, token, "POST", "/sandbox-deploy", { region: "US", image: "centos:7", driver: "bubblewrap" });
    assert.equal(image.status, 422);
    assert.match(String(image.json.error), /image "centos:7" is not available for driver bubblewrap; available: ubuntu:24.04, host/);
    const driver = await api(server, token, "POST", "/sandbox-deploy", { region: "US", image: "ubuntu:24.04", driver: "xen" });
    assert.equal(driver.status, 422);
    assert.match(String(driver.json.error), /unknown driver "xen"/);
  });

  test("upload URLs are signed, expire, and cap the size", async () => {
    const presign = await api(server, token, "POST", "/sandbox-archives/presign", {});
    const url = new URL(String(presign.json.upload_url));
    const tampered = new URL(url);
    tampered.searchParams.set("expires", String(Number(url.searchParams.get("expires")) + 1000));
    assert.equal((await fetch(tampered, { method: "PUT", body: GOOD })).status, 403);
    const expired = new URL(url);
    expired.searchParams.delete("sig");
    assert.equal((await fetch(expired, { method: "PUT", body: GOOD })).status, 403);
    const big = Buffer.alloc(2 * 1024 * 1024, 1);
    const tooBig = await fetch(url, { method: "PUT", body: big }).catch(() => undefined);
    assert.equal(tooBig?.status ?? 413, 413);
    assert.equal((await api(server, token, "POST", "/sandbox-archives/presign", { size_bytes: 5 * 1024 * 1024 })).status, 413);
    // nothing uploaded: finalize says so
    const finalize = await api(server, token, "POST", `/sandbox-archives/${String(presign.json.archive_id)}/finalize`, { sandbox_id: "x" });
    assert.equal(finalize.status, 409);
    // another token cannot finalize it
    const other = createToken(dataDir, "mallory");
    assert.equal((await api(server, other, "POST", `/sandbox-archives/${String(presign.json.archive_id)}/finalize`, { sandbox_id: "x" })).status, 404);
  });

  test("archives that would write outside /workspace are refused", async () => {
    const attacks: Array<[string, Parameters<typeof makeTarGz>[0], RegExp]> = [
      ["dot-dot", [{ path: "workspace/../../evil.txt", content: "x" }], /climbs out/],
      ["absolute", [{ path: "/tmp/heyvm-evil.txt", content: "x" }], /absolute path/],
      ["not under workspace/", [{ path: "etc/passwd", content: "x" }], /not under workspace/],
      ["symlink out", [{ path: "workspace/out", type: "symlink", linkpath: "../../../etc" }], /points outside the workspace/],
      ["absolute symlink", [{ path: "workspace/out", type: "symlink", linkpath: "/etc" }], /absolute path/],
      ["through a symlink", [{ path: "workspace/d", type: "symlink", linkpath: "." }, { path: "workspace/d/x", content: "x" }], /goes through the symbolic link/],
      [
        "chained symlinks",
        [
          { path: "workspace/x/y/z", type: "symlink", linkpath: "../.." },
          { path: "workspace/t", type: "symlink", linkpath: "x/y/z/../.." },
        ],
        /points through the symbolic link x\/y\/z/,
      ],
      ["hardlink out", [{ path: "workspace/h", type: "hardlink", linkpath: "/etc/shadow" }], /hard link/],
      ["fifo", [{ path: "workspace/p", type: "fifo" }], /only files, folders and links/],
    ];
    for (const [name, entries, why] of attacks) {
      const { archiveId, uploadStatus, finalize } = await uploadArchive(server, token, makeTarGz(entries));
      assert.equal(uploadStatus, 200, name);
      assert.equal(finalize.status, 422, `${name}: ${JSON.stringify(finalize.json)}`);
      assert.match(String(finalize.json.error), why, name);
      const deploy = await api(server, token, "POST", "/sandbox-deploy", { region: "US", image: "ubuntu:24.04", driver: "bubblewrap", archive_id: archiveId });
      assert.equal(deploy.status, 404, `${name}: a refused archive cannot be deployed`);
    }
    assert.equal(existsSync("/tmp/heyvm-evil.txt"), false);
    assert.equal(existsSync(join(dataDir, "evil.txt")), false);
    const garbage = await uploadArchive(server, token, Buffer.from("not a tarball"));
    assert.equal(garbage.finalize.status, 422);
  });

  test("extraction itself refuses a bad entry, writes nothing outside and leaves the workspace empty", async () => {
    const scratch = mkdtempSync(join(tmpdir(), "heyvm-extract-"));
    try {
      const file = join(scratch, "bad.tar.gz");
      writeFileSync(file, makeTarGz([
        { path: "workspace/ok.txt", content: "fine" },
        { path: "workspace/d", type: "symlink", linkpath: "." },
        { path: "workspace/d/../../escaped.txt", content: "x" },
      ]));
      const dest = join(scratch, "ws");
      await assert.rejects(extractArchive(file, dest, { maxBytes: 1 << 20, maxEntries: 100 }), ArchiveRejectedError);
      assert.deepEqual(readdirSync(dest), []);
      assert.equal(existsSync(join(scratch, "escaped.txt")), false);
      writeFileSync(file, makeTarGz([{ path: "workspace/big", content: "x".repeat(5000) }]));
      await assert.rejects(extractArchive(file, dest, { maxBytes: 1000, maxEntries: 100 }), /unpacks to more than 1000 bytes/);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  test("a deployed archive lands in /workspace; exec, TTL change and replace-mount work", { skip: bwrap }, async () => {
    const id = await deployGood(server, token, { env_vars: { GREETING: "hi" }, start_command: "echo \"$GREETING\" > started.txt" });
    await waitFor(async () => (await api(server, token, "POST", `/sandbox/${id}/exec`, { command: "cat started.txt" })).json.stdout === "hi\n", 10_000, "the start command");
    const view = await api(server, token, "GET", `/deployed-sandboxes/${id}`);
    assert.equal(view.json.status, "running", JSON.stringify(view.json));
    const exec = await api(server, token, "POST", `/sandbox/${id}/exec`, { command: 'cat hello.txt sub/link; echo "$GREETING $X"; pwd >&2', env: { X: "there" } });
    assert.equal(exec.status, 200);
    assert.equal(exec.json.stdout, "hello from the archive\nhello from the archive\nhi there\n");
    assert.equal(exec.json.stderr, "/workspace\n");
    assert.equal(exec.json.exit_code, 0);
    const replacement = await uploadArchive(server, token, makeTarGz([{ path: "workspace/new.txt", content: "new\n" }]));
    const replaced = await api(server, token, "POST", `/deployed-sandboxes/${id}/replace-mount`, { archive_id: replacement.archiveId, sandbox_path: "/workspace" });
    assert.equal(replaced.status, 200, JSON.stringify(replaced.json));
    const ls = await api(server, token, "POST", `/sandbox/${id}/exec`, { command: "ls" });
    assert.equal(ls.json.stdout, "new.txt\n");
    const ttl = await api(server, token, "POST", `/deployed-sandboxes/${id}/ttl`, { ttl_seconds: 3600 });
    assert.equal(ttl.json.ttl_seconds, 3600);
    const deleted = await api(server, token, "DELETE", `/deployed-sandboxes/${id}`);
    assert.equal(deleted.status, 200);
    assert.equal((await api(server, token, "GET", `/deployed-sandboxes/${id}`)).status, 404);
    assert.equal(existsSync(join(dataDir, "workspaces", id)), false);
  });

  test("an open port is reached through the proxy: public without a token, private only with the owner's", { skip: bwrap || nodeInSandbox }, async () => {
    const port = await freePort();
    const serverJs = `require("http").createServer((q, s) => s.end("hello from " + q.method + " " + q.url)).listen(${port}, "127.0.0.1");\n`;
    const { archiveId, finalize } = await uploadArchive(server, token, makeTarGz([{ path: "workspace/", type: "dir" }, { path: "workspace/server.js", content: serverJs }]));
    assert.equal(finalize.status, 200, JSON.stringify(finalize.json));
    const created = await api(server, token, "POST", "/sandbox-deploy", {
      region: "US", image: "ubuntu:24.04", driver: "bubblewrap", archive_id: archiveId, open_ports: [port], start_command: "exec /usr/bin/node server.js",
    });
    assert.equal(created.status, 202, JSON.stringify(created.json));
    const id = String(created.json.id);
    await waitFor(async () => (await api(server, token, "GET", `/deployed-sandboxes/${id}`)).json.status !== "provisioning", 30_000, "provisioning to end");
    const view = await api(server, token, "GET", `/deployed-sandboxes/${id}`);
    assert.equal(view.json.status, "running", JSON.stringify(view.json));
    const urls = view.json.urls as Array<{ url: string }>;
    assert.equal(urls.length, 1);
    const publicUrl = loopbackUrl(String(urls[0]?.url));
    await waitFor(async () => (await fetch(`${publicUrl}ready`).catch(() => undefined))?.status === 200, 10_000, "the sandbox's HTTP server");
    const answer = await fetch(`${publicUrl}some/path?x=1`);
    assert.equal(await answer.text(), "hello from GET /some/path?x=1");

    const made = await api(server, token, "POST", "/proxy-endpoints/for-deployed", { sandbox_id: id, port, is_public: false });
    assert.equal(made.status, 200, JSON.stringify(made.json));
    const privateUrl = loopbackUrl(String(made.json.url));
    assert.equal((await fetch(`${privateUrl}x`)).status, 401, "a private endpoint needs a token");
    assert.equal((await fetch(`${privateUrl}x`, { headers: { authorization: `Bearer ${createToken(dataDir, "eve")}` } })).status, 404, "another token's private endpoint does not exist");
    const owned = await fetch(`${privateUrl}x`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: "ignored" });
    assert.equal(await owned.text(), "hello from POST /x");

    const nobody = await api(server, token, "POST", "/proxy-endpoints/for-deployed", { sandbox_id: id, port: await freePort(), is_public: true });
    const unanswered = await fetch(loopbackUrl(String(nobody.json.url)));
    assert.equal(unanswered.status, 502);
    // a port that is not in open_ports is tried through a connector inside the sandbox; nothing listens there
    assert.match(String(((await unanswered.json()) as { error?: string }).error), /nothing answers on port \d+ in dep-/);

    await api(server, token, "POST", `/sandbox/${id}/stop`);
    const stopped = await fetch(`${publicUrl}x`);
    assert.equal(stopped.status, 409, "a stopped sandbox's ports answer 409");
    await stopped.text();
    await api(server, token, "DELETE", `/deployed-sandboxes/${id}`);
  });

  test("when the TTL expires the sandbox is stopped and its resources freed", { skip: bwrap }, async () => {
    const id = await deployGood(server, token, { ttl_seconds: 2 });
    const sandboxesBefore = readdirSync(join(dataDir, "h", "sandboxes")).length;
    assert.ok(existsSync(join(dataDir, "workspaces", id)));
    await waitFor(async () => (await api(server, token, "GET", `/deployed-sandboxes/${id}`)).json.status === "stopped", 15_000, "the TTL to expire");
    const view = await api(server, token, "GET", `/deployed-sandboxes/${id}`);
    assert.match(String(view.json.error_message), /TTL of 2 s expired/);
    assert.equal(existsSync(join(dataDir, "workspaces", id)), false, "workspace freed");
    assert.equal(readdirSync(join(dataDir, "h", "sandboxes")).length, sandboxesBefore - 1, "sandbox folder freed");
    const start = await api(server, token, "POST", `/sandbox/${id}/start`);
    assert.equal(start.status, 409);
    assert.match(server.log(), new RegExp(`deployment ${id}: running -> stopped \\(TTL of 2 s expired\\)`));
  });

  test("stop and start again keep the workspace", { skip: bwrap }, async () => {
    const id = await deployGood(server, token);
    await api(server, token, "POST", `/sandbox/${id}/exec`, { command: "echo kept > kept.txt" });
    assert.equal((await api(server, token, "POST", `/sandbox/${id}/stop`)).json.status, "stopped");
    assert.equal((await api(server, token, "POST", `/sandbox/${id}/exec`, { command: "true" })).status, 409);
    assert.equal((await api(server, token, "POST", `/sandbox/${id}/start`)).json.status, "running");
    assert.equal((await api(server, token, "POST", `/sandbox/${id}/exec`, { command: "cat kept.txt" })).json.stdout, "kept\n");
    await api(server, token, "POST", `/sandbox/${id}/stop`);
  });

  test("after a restart, what is reported running really runs", { skip: bwrap }, async () => {
    const survivor = await deployGood(server, token);
    const victim = await deployGood(server, token);
    await server.stop();
    // the victim's owner dies while the server is down
    const home = join(dataDir, "h");
    const victimSandbox = readdirSync(join(home, "sandboxes")).find((sb) => readSpecName(join(home, "sandboxes", sb)) === victim);
    assert.ok(victimSandbox, "found the victim's sandbox");
    const victimPid = ownerPidOf(join(home, "sandboxes", victimSandbox));
    process.kill(victimPid, "SIGKILL");
    await waitFor(() => !isAlive(victimPid), 10_000, "the victim's owner to die");
    server = await startCloudServer({ dataDir, args: ["--max-upload-mb", "1"] });
    const list = await api(server, token, "GET", "/deployed-sandboxes");
    const rows = list.json as unknown as Array<{ id: string; status: string; error_message: string | null }>;
    assert.equal(rows.find((r) => r.id === survivor)?.status, "running");
    assert.equal(rows.find((r) => r.id === victim)?.status, "stopped");
    assert.match(String(rows.find((r) => r.id === victim)?.error_message), /server restarted/);
    assert.equal((await api(server, token, "POST", `/sandbox/${survivor}/exec`, { command: "cat hello.txt" })).json.stdout, "hello from the archive\n");
    assert.match(server.log(), new RegExp(`deployment ${victim}: running -> stopped`));
    await api(server, token, "POST", `/sandbox/${survivor}/stop`);
  });
});

describe("cloud server reads", { skip: bwrap }, () => {
  let server: CloudServer;
  let token = "";
  const dataDir = mkdtempSync(join(tmpdir(), "heyvm-cloud-reads-"));

  before(async () => {
    // no sweep during the test: only requests could change the database
    server = await startCloudServer({ dataDir, args: ["--sweep-ms", "3600000"] });
    token = createToken(dataDir, "alice");
  });
  after(async () => {
    await server?.cleanup();
    await stopOwners(join(dataDir, "h"));
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("GETs report a sandbox that died as stopped without writing to the database; start records it", async () => {
    const id = await deployGood(server, token);
    const home = join(dataDir, "h");
    const sandbox = readdirSync(join(home, "sandboxes")).find((sb) => readSpecName(join(home, "sandboxes", sb)) === id);
    assert.ok(sandbox, "found the deployment's sandbox");
    const ownerPid = ownerPidOf(join(home, "sandboxes", sandbox));
    process.kill(ownerPid, "SIGKILL");
    await waitFor(() => !isAlive(ownerPid), 10_000, "the owner to die");

    const db = new Database(join(dataDir, "heyvm-cloud.db"), { readonly: true, fileMustExist: true });
    try {
      const version = () => db.pragma("data_version", { simple: true });
      const row = () => db.prepare("SELECT * FROM deployments WHERE id = ?").get(id) as Record<string, unknown>;
      const versionBefore = version();
      const rowBefore = row();
      assert.equal(rowBefore.status, "running", "the row still says running: nothing has looked yet");
      const reads = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          i % 2 === 0 ? api(server, token, "GET", `/deployed-sandboxes/${id}`) : api(server, token, "GET", "/deployed-sandboxes"),
        ),
      );
      for (const read of reads) {
        assert.equal(read.status, 200);
        const view = Array.isArray(read.json) ? (read.json as Array<Record<string, unknown>>).find((d) => d.id === id) : read.json;
        assert.equal(view?.status, "stopped", JSON.stringify(read.json));
        assert.match(String(view?.error_message), /not running/);
        assert.equal(view?.uptime_secs, null);
      }
      assert.equal((await api(server, token, "GET", `/deployed-sandboxes/${id}/logs`)).status, 200);
      assert.equal(version(), versionBefore, "no GET committed anything to the database");
      assert.deepEqual(row(), rowBefore);
      assert.doesNotMatch(server.log(), new RegExp(`deployment ${id}: running -> stopped`));

      // an explicit transition records what the reads only reported, then starts it again
      const start = await api(server, token, "POST", `/sandbox/${id}/start`);
      assert.equal(start.status, 200, JSON.stringify(start.json));
      assert.equal(start.json.status, "running");
      assert.match(server.log(), new RegExp(`deployment ${id}: running -> stopped \\(not running: `));
      assert.match(server.log(), new RegExp(`deployment ${id}: stopped -> running`));
      assert.notEqual(version(), versionBefore);
      assert.equal((await api(server, token, "POST", `/sandbox/${id}/exec`, { command: "cat hello.txt" })).json.stdout, "hello from the archive\n");
    } finally {
      db.close();
    }
    await api(server, token, "POST", `/sandbox/${id}/stop`);
  });
});

function readSpecName(dir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(dir, "sandbox.json"), "utf8")) as { name?: string }).name;
  } catch {
    return undefined;
  }
}

function ownerPidOf(dir: string): number {
  return (JSON.parse(readFileSync(join(dir, "owner.json"), "utf8")) as { pid: number }).pid;
}
