// The server under attack, as a hostile tenant on loopback would try it (issue 10's "Server"
// items): each test first does what the attack did, then checks the server kept its guarantees.
// Everything runs against a real `heyvm server` on 127.0.0.1 and, where a sandbox is needed,
// real bubblewrap sandboxes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { HEYVM, hasCommand, isAlive, waitFor } from "./helpers/env.js";
import { api, createToken, loopbackUrl, startCloudServer, stopOwners, uploadArchive, type CloudServer } from "./helpers/cloud-server.js";
import { makeTarGz } from "./helpers/cloud-tar.js";
import { manyEntries, zeroFileBomb, zeroFilesBomb } from "./helpers/tar-bomb.js";

const bwrap = hasCommand("bwrap") ? false : "bubblewrap (bwrap) is not installed";
if (bwrap) console.log(`# skipping the hardening tests that run sandboxes: ${bwrap}`);
// the sandboxes that serve HTTP do it with the host's node, seen read-only inside
const nodeInSandbox = bwrap || (existsSync("/usr/bin/node") ? false : "no /usr/bin/node for the sandbox to serve HTTP with");

const GOOD = makeTarGz([{ path: "workspace/", type: "dir" }, { path: "workspace/hello.txt", content: "hello from the archive\n" }]);

/** What a raw request ended with: an answer, or the connection's error. */
type RawOutcome = { status: number; body: string } | { error: string };

/** PUT/POST `bytes` bytes to url in 64 KiB pieces (chunked unless told the length), as a client that keeps sending would. */
function sendBody(url: URL, options: { method: string; bytes: number; chunked: boolean; headers?: Record<string, string> }): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { ...options.headers, ...(options.chunked ? { "transfer-encoding": "chunked" } : { "content-length": String(options.bytes) }) };
    const req = httpRequest({ host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method: options.method, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", (error) => resolve({ error: error.message }));
    });
    req.on("error", (error) => resolve({ error: error.message }));
    const piece = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    const pump = () => {
      while (sent < options.bytes) {
        const part = piece.subarray(0, Math.min(piece.length, options.bytes - sent));
        sent += part.length;
        if (!req.write(part)) return void req.once("drain", pump);
      }
      req.end();
    };
    pump();
  });
}

function listenOn(host: string, port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const squatter = createServer((socket) => socket.end("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi"));
    squatter.once("error", reject);
    squatter.listen(port, host, () => resolve(squatter));
  });
}

function portOf(server: Server): number {
  const address = server.address();
  return typeof address === "object" && address ? address.port : 0;
}

/** Runs `heyvm server` to its end (it should refuse to start); its exit code and what it said. */
function serverThatShouldNotStart(args: string[], dataDir: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(HEYVM, ["server", "--data-dir", dataDir, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (output += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (output += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

async function assertAlive(server: CloudServer, token: string): Promise<void> {
  assert.equal(server.child.exitCode, null, `the server exited:\n${server.log().slice(-2000)}`);
  assert.equal((await api(server, token, "GET", "/deployed-sandboxes")).status, 200, "the server still answers");
}

describe("nothing a client sends ends the server", () => {
  let server: CloudServer;
  let token = "";
  const dataDir = mkdtempSync(join(tmpdir(), "heyvm-harden-http-"));

  before(async () => {
    server = await startCloudServer({ dataDir, args: ["--max-upload-mb", "1"] });
    token = createToken(dataDir, "alice");
  });
  after(async () => {
    await server?.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("a chunked upload past the size limit gets 413, and the server lives on", async () => {
    for (const chunked of [true, false]) {
      const presign = await api(server, token, "POST", "/sandbox-archives/presign", {});
      const outcome = await sendBody(new URL(String(presign.json.upload_url)), { method: "PUT", bytes: 3 * 1024 * 1024, chunked });
      assert.deepEqual("status" in outcome ? outcome.status : outcome, 413, `chunked=${chunked}`);
      await assertAlive(server, token);
    }
  });

  test("JSON bodies of 2 MB and 50 MB get 413, not a reset", async () => {
    for (const bytes of [2 * 1024 * 1024, 50 * 1024 * 1024]) {
      for (const chunked of [false, true]) {
        const outcome = await sendBody(new URL(`${server.url}/sandbox-deploy`), { method: "POST", bytes, chunked, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } });
        assert.deepEqual("status" in outcome ? outcome.status : outcome, 413, `${bytes} bytes, chunked=${chunked}`);
        if ("body" in outcome) assert.match(outcome.body, /larger than/);
      }
    }
    await assertAlive(server, token);
  });

  test("connections cut at every step (mid-headers, mid-body, mid-upgrade) leave it running", async () => {
    const { port } = new URL(server.url);
    const cut = (text: string, how: "end" | "reset", waitMs = 20) =>
      new Promise<void>((resolve) => {
        const socket = connect(Number(port), "127.0.0.1", () => {
          socket.write(text);
          setTimeout(() => {
            if (how === "reset") socket.resetAndDestroy();
            else socket.end();
            resolve();
          }, waitMs);
        });
        socket.on("error", () => resolve());
      });
    const presign = await api(server, token, "POST", "/sandbox-archives/presign", {});
    const upload = new URL(String(presign.json.upload_url));
    for (let round = 0; round < 5; round++) {
      for (const how of ["end", "reset"] as const) {
        await cut("GET /deployed-sandboxes HTTP/1.1\r\nHost: x\r\nAuthor", how);
        await cut(`POST /sandbox-deploy HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Length: 1000\r\n\r\n{"region":`, how);
        await cut(`PUT ${upload.pathname}${upload.search} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000\r\nabc`, how);
        await cut(
          `GET /deployed-sandboxes/dep-00000000/shell-stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer ${token}\r\n\r\n`,
          how,
          0,
        );
        await cut("GET //// HTTP/1.1\r\nHost: x\r\n\r\n", how);
        await cut("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n", how);
      }
    }
    await assertAlive(server, token);
  });
});

describe("the server's own address", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "heyvm-harden-addr-"));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  test("the server refuses to start when its listen port is taken", async () => {
    const squatter = await listenOn("127.0.0.1");
    try {
      const refused = await serverThatShouldNotStart(["--listen", `127.0.0.1:${portOf(squatter)}`], dataDir);
      assert.notEqual(refused.code, 0);
      assert.match(refused.output, new RegExp(`127\\.0\\.0\\.1:${portOf(squatter)} is already in use`));
      assert.doesNotMatch(refused.output, /\n\s+at /, "one line, no stack trace");
    } finally {
      squatter.close();
    }
  });

  test("…or taken on the other loopback address, where a client asking for localhost may land", async (t) => {
    const squatter = await listenOn("::1").catch(() => undefined);
    if (!squatter) return t.skip("no IPv6 loopback on this machine");
    try {
      const refused = await serverThatShouldNotStart(["--listen", `127.0.0.1:${portOf(squatter)}`], dataDir);
      assert.notEqual(refused.code, 0);
      assert.match(refused.output, new RegExp(`\\[::1\\]:${portOf(squatter)} is already in use`));
    } finally {
      squatter.close();
    }
  });
});


/** One PUT whose body is sent in two parts: the first now, the rest when finish() is called. */
function slowUpload(url: URL, body: Buffer): { started: Promise<void>; finish(): Promise<RawOutcome> } {
  let outcome: (value: RawOutcome) => void = () => undefined;
  const done = new Promise<RawOutcome>((resolve) => (outcome = resolve));
  const req = httpRequest({ host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method: "PUT", headers: { "content-length": String(body.length) } }, (res) => {
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (d: string) => (text += d));
    res.on("end", () => outcome({ status: res.statusCode ?? 0, body: text }));
  });
  req.on("error", (error) => outcome({ error: error.message }));
  const half = Math.floor(body.length / 2);
  const started = new Promise<void>((resolve) => req.write(body.subarray(0, half), () => setTimeout(resolve, 300)));
  return {
    started,
    finish() {
      req.end(body.subarray(half));
      return done;
    },
  };
}

/** Waits for a promise at most ms (a test that fails must not hang the suite). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
}

describe("archives: uploads, bombs and links", () => {
  let server: CloudServer;
  let token = "";
  const dataDir = mkdtempSync(join(tmpdir(), "heyvm-harden-archives-"));

  before(async () => {
    server = await startCloudServer({ dataDir, args: ["--max-upload-mb", "64", "--max-unpacked-mb", "256", "--max-archive-entries", "5000"] });
    token = createToken(dataDir, "alice");
  });
  after(async () => {
    await server?.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("an upload under way cannot be finalized, and the URL stops working at finalize", async () => {
    const presign = await api(server, token, "POST", "/sandbox-archives/presign", {});
    const id = String(presign.json.archive_id);
    const url = new URL(String(presign.json.upload_url));
    const first = await fetch(url, { method: "PUT", body: GOOD });
    assert.equal(first.status, 200);
    // the attack: a second PUT (of an archive that escapes) still in flight when finalize runs
    const evil = makeTarGz([{ path: "workspace/../escape.txt", content: "x" }]);
    const racing = slowUpload(url, evil);
    await racing.started;
    const finalize = await api(server, token, "POST", `/sandbox-archives/${id}/finalize`, { sandbox_id: "x" });
    assert.equal(finalize.status, 409, JSON.stringify(finalize.json));
    assert.match(String(finalize.json.error), /still under way/);
    const raced = await racing.finish();
    assert.deepEqual("status" in raced ? raced.status : raced, 200);
    // what is finalized is what was checked: the escaping archive is refused, never kept
    const checked = await api(server, token, "POST", `/sandbox-archives/${id}/finalize`, { sandbox_id: "x" });
    assert.equal(checked.status, 422);
    assert.match(String(checked.json.error), /climbs out/);

  });

  test("the same URL once finalized answers 409 and changes nothing", async () => {
    const presign = await api(server, token, "POST", "/sandbox-archives/presign", {});
    const id = String(presign.json.archive_id);
    assert.equal((await fetch(String(presign.json.upload_url), { method: "PUT", body: GOOD })).status, 200);
    assert.equal((await api(server, token, "POST", `/sandbox-archives/${id}/finalize`, { sandbox_id: "x" })).status, 200);
    const after = await fetch(String(presign.json.upload_url), { method: "PUT", body: makeTarGz([{ path: "workspace/other", content: "y" }]) });
    assert.equal(after.status, 409);
    assert.deepEqual(readFileSync(join(dataDir, "archives", `${id}.tar.gz`)), GOOD);
  });

  test("a gzip bomb is refused (422) from its headers, without the server's memory growing", async () => {
    const pid = server.child.pid ?? 0;
    const before = rssKb(pid);
    const bomb = zeroFileBomb(9); // about 9.4 MB holding 9 GiB of zeros
    assert.ok(bomb.length < 16 * 1024 * 1024, `the bomb is ${bomb.length} bytes`);
    const upload = uploadArchive(server, token, bomb);
    // the server keeps answering while the bomb is being looked at
    const reads = await Promise.all(Array.from({ length: 20 }, () => api(server, token, "GET", "/deployed-sandboxes")));
    for (const read of reads) assert.equal(read.status, 200);
    const { finalize } = await upload;
    assert.equal(finalize.status, 422, JSON.stringify(finalize.json));
    assert.match(String(finalize.json.error), /unpacks to more than 268435456 bytes/);
    // zeros with honest headers (files of 128 MiB, each under the size limit): refused by their ratio
    const honest = await uploadArchive(server, token, zeroFilesBomb(72, 0.125));
    assert.equal(honest.finalize.status, 422, JSON.stringify(honest.finalize.json));
    assert.match(String(honest.finalize.json.error), /more than 1000 times its size/);
    const flood = await uploadArchive(server, token, manyEntries(6000));
    assert.equal(flood.finalize.status, 422);
    assert.match(String(flood.finalize.json.error), /more than 5000 entries/);
    const grown = rssKb(pid) - before;
    assert.ok(grown < 150 * 1024, `server RSS grew by ${grown} kB`);
    await assertAlive(server, token);
  });

  test("a link chain whose second link comes last is refused", async () => {
    const { finalize } = await uploadArchive(server, token, makeTarGz([
      { path: "workspace/d1/d2/", type: "dir" },
      { path: "workspace/x", type: "symlink", linkpath: "d1/d2/up/.." },
      { path: "workspace/d1/d2/up", type: "symlink", linkpath: "../.." },
    ]));
    assert.equal(finalize.status, 422);
    assert.match(String(finalize.json.error), /points through the symbolic link d1\/d2\/up/);
  });

  test("a .part file of an upload cut off by a server crash is removed with it", async () => {
    const presign = await api(server, token, "POST", "/sandbox-archives/presign", {});
    const upload = slowUpload(new URL(String(presign.json.upload_url)), Buffer.alloc(4 * 1024 * 1024, 1));
    await upload.started;
    const parts = () => readdirSync(join(dataDir, "archives")).filter((name) => name.endsWith(".part"));
    assert.equal(parts().length, 1, "the upload is being written to a .part file");
    server.child.kill("SIGKILL");
    await upload.finish();
    await waitFor(() => server.child.exitCode !== null || server.child.signalCode !== null, 10_000, "the server to die");
    assert.equal(parts().length, 1, "the crash left it behind");
    server = await startCloudServer({ dataDir, args: ["--max-upload-mb", "64", "--max-unpacked-mb", "256", "--max-archive-entries", "5000"] });
    assert.deepEqual(parts(), [], "the restarted server removed it");
    assert.match(server.log(), /removed 1 partial upload/);
  });

  test("the data folder is 0700 and the database 0600", () => {
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dataDir, "heyvm-cloud.db")).mode & 0o777, 0o600);
    for (const extra of ["heyvm-cloud.db-wal", "heyvm-cloud.db-shm"]) {
      if (existsSync(join(dataDir, extra))) assert.equal(statSync(join(dataDir, extra)).mode & 0o777, 0o600, extra);
    }
  });

  test("NUL bytes in exec's command, cwd or environment get 422", async () => {
    for (const body of [{ command: "echo a\u0000b" }, { command: "true", cwd: "/tmp\u0000/x" }, { command: "true", env: { A: "x\u0000y" } }, { command: "true", timeout_seconds: 0 }]) {
      const answer = await api(server, token, "POST", "/sandbox/dep-00000000/exec", body);
      assert.equal(answer.status, 422, JSON.stringify(body));
    }
    const deploy = await api(server, token, "POST", "/sandbox-deploy", { region: "US", image: "ubuntu:24.04", driver: "bubblewrap", start_command: "echo \u0000" });
    assert.equal(deploy.status, 422);
  });
});

/** The sandbox (sb-…) folder of a deployment under the server's data folder. */
function sandboxDirOf(dataDir: string, deploymentId: string): string {
  const root = join(dataDir, "h", "sandboxes");
  const match = readdirSync(root).find((sb) => {
    try {
      return (JSON.parse(readFileSync(join(root, sb, "sandbox.json"), "utf8")) as { name?: string }).name === deploymentId;
    } catch {
      return false;
    }
  });
  if (!match) throw new Error(`no sandbox for ${deploymentId}`);
  return join(root, match);
}

function ownerPidOf(dataDir: string, deploymentId: string): number {
  return (JSON.parse(readFileSync(join(sandboxDirOf(dataDir, deploymentId), "owner.json"), "utf8")) as { pid: number }).pid;
}

function dbRow(dataDir: string, id: string): Record<string, unknown> {
  const db = new Database(join(dataDir, "heyvm-cloud.db"), { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT * FROM deployments WHERE id = ?").get(id) as Record<string, unknown>;
  } finally {
    db.close();
  }
}

async function deploy(server: CloudServer, token: string, extra: Record<string, unknown> = {}, archive: Buffer = GOOD): Promise<string> {
  const { archiveId, finalize } = await uploadArchive(server, token, archive);
  assert.equal(finalize.status, 200, JSON.stringify(finalize.json));
  const created = await api(server, token, "POST", "/sandbox-deploy", { region: "US", image: "ubuntu:24.04", driver: "bubblewrap", archive_id: archiveId, ...extra });
  assert.equal(created.status, 202, JSON.stringify(created.json));
  const id = String(created.json.id);
  await waitFor(async () => (await api(server, token, "GET", `/deployed-sandboxes/${id}`)).json.status !== "provisioning", 30_000, "provisioning to end");
  const view = await api(server, token, "GET", `/deployed-sandboxes/${id}`);
  assert.equal(view.json.status, "running", JSON.stringify(view.json));
  return id;
}

function httpServerArchive(port: number): Buffer {
  const js = `require("http").createServer((q, s) => s.end("ok " + q.url)).listen(${port}, "127.0.0.1");\n`;
  return makeTarGz([{ path: "workspace/", type: "dir" }, { path: "workspace/server.js", content: js }]);
}

function freePort(): Promise<number> {
  return listenOn("127.0.0.1").then((probe) => {
    const port = portOf(probe);
    return new Promise((resolve) => probe.close(() => resolve(port)));
  });
}

function shellUrl(server: CloudServer, id: string): string {
  return `${server.url.replace(/^http/, "ws")}/deployed-sandboxes/${id}/shell-stream`;
}

/** Opens a shell stream; resolves with the socket once the server upgraded it (or with the refusal's status). */
function openShell(server: CloudServer, token: string, id: string): Promise<{ ws: WebSocket } | { status: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(shellUrl(server, id), { headers: { authorization: `Bearer ${token}` } });
    ws.once("open", () => resolve({ ws }));
    ws.once("unexpected-response", (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      res.resume();
    });
    ws.once("error", () => resolve({ status: 0 }));
  });
}

describe("a tenant's running sandboxes", { skip: bwrap }, () => {
  let server: CloudServer;
  let token = "";
  const dataDir = mkdtempSync(join(tmpdir(), "heyvm-harden-sandboxes-"));

  before(async () => {
    // 100 shell upgrades at once are part of one test: the shell caps (server/deployments/limits.ts) are raised for it
    server = await startCloudServer({ dataDir, args: ["--max-active", "2", "--max-shells-per-token", "100", "--max-shells", "100"] });
    token = createToken(dataDir, "alice");
  });
  after(async () => {
    await server?.cleanup();
    await stopOwners(join(dataDir, "h"));
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("100 requests through a public endpoint and 100 shell upgrades at once never read a live sandbox as stopped", { skip: nodeInSandbox }, async () => {
    const port = await freePort();
    const id = await deploy(server, token, { open_ports: [port], start_command: "exec /usr/bin/node server.js" }, httpServerArchive(port));
    const url = loopbackUrl(String(((await api(server, token, "GET", `/deployed-sandboxes/${id}`)).json.urls as Array<{ url: string }>)[0]?.url));
    await waitFor(async () => (await fetch(url).catch(() => undefined))?.status === 200, 10_000, "the sandbox's HTTP server");
    const owner = ownerPidOf(dataDir, id);
    const rowBefore = dbRow(dataDir, id);
    const gets = Array.from({ length: 100 }, (_, i) => fetch(`${url}n${i}`).then(async (r) => ({ status: r.status, text: await r.text() })));
    const shells = Array.from({ length: 100 }, () => openShell(server, token, id));
    const answers = await Promise.all(gets);
    const upgrades = await Promise.all(shells);
    for (const upgrade of upgrades) if ("ws" in upgrade) upgrade.ws.terminate();
    assert.deepEqual(answers.filter((a) => a.status !== 200), [], "every proxied GET was answered by the sandbox");
    assert.deepEqual(upgrades.filter((u) => !("ws" in u)), [], "every shell upgrade was accepted");
    assert.ok(isAlive(owner), "the owner lives");
    await new Promise((resolve) => setTimeout(resolve, 1000)); // a few sweeps
    assert.equal(dbRow(dataDir, id).status, "running");
    assert.deepEqual(dbRow(dataDir, id), rowBefore, "nothing was recorded");
    assert.doesNotMatch(server.log(), new RegExp(`deployment ${id}: running -> stopped`));
    await api(server, token, "DELETE", `/deployed-sandboxes/${id}`);
  });

  test("an owner that does not answer its socket is not taken for a dead one, and stop still ends it", async () => {
    const id = await deploy(server, token);
    const owner = ownerPidOf(dataDir, id);
    process.kill(owner, "SIGSTOP"); // alive, silent: its socket takes connections and answers none
    try {
      const view = await api(server, token, "GET", `/deployed-sandboxes/${id}`);
      assert.equal(view.json.status, "running", JSON.stringify(view.json));
      const exec = await api(server, token, "POST", `/sandbox/${id}/exec`, { command: "cat hello.txt" });
      assert.equal(exec.json.stdout, "hello from the archive\n", "exec does not need the owner's socket");
      await new Promise((resolve) => setTimeout(resolve, 1500)); // several sweeps
      assert.equal(dbRow(dataDir, id).status, "running", "the sweep recorded nothing");
      // stop asks by signal instead; the owner acts on it once it runs again
      const stopping = api(server, token, "POST", `/sandbox/${id}/stop`);
      await new Promise((resolve) => setTimeout(resolve, 2500));
      process.kill(owner, "SIGCONT");
      const stopped = await stopping;
      assert.equal(stopped.json.status, "stopped", JSON.stringify(stopped.json));
      await waitFor(() => !isAlive(owner), 20_000, "the owner to end");
    } finally {
      if (isAlive(owner)) process.kill(owner, "SIGCONT");
    }
  });

  test("an endpoint on the server's own port is refused and never loops", async () => {
    const own = Number(new URL(server.url).port);
    const id = await deploy(server, token, { open_ports: [own] });
    const url = loopbackUrl(String(((await api(server, token, "GET", `/deployed-sandboxes/${id}`)).json.urls as Array<{ url: string }>)[0]?.url));
    const pid = server.child.pid ?? 0;
    const before = rssKb(pid);
    const linesBefore = server.log().split("\n").filter((l) => l.includes(" /p/")).length;
    const answers = await Promise.all(Array.from({ length: 50 }, () => fetch(`${url}secret.txt`).then(async (r) => ({ status: r.status, text: await r.text() }))));
    for (const answer of answers) assert.ok(answer.status === 508 || answer.status === 502, `${answer.status} ${answer.text}`);
    await waitFor(() => server.log().split("\n").filter((l) => l.includes(" /p/")).length >= linesBefore + 50, 5000, "the request log");
    assert.equal(server.log().split("\n").filter((l) => l.includes(" /p/")).length, linesBefore + 50, "one request each, no hops");
    assert.ok(rssKb(pid) - before < 50 * 1024, "no growth from a loop");
    const chained = await fetch(`${url}x`, { headers: { "x-heyvm-proxied": "1" } });
    assert.equal(chained.status, 508, "a request that already went through a proxy is refused");
    await chained.text();
    const made = await api(server, token, "POST", "/proxy-endpoints/for-deployed", { sandbox_id: id, port: own, is_public: true });
    assert.ok(made.status === 422 || made.status === 200, JSON.stringify(made.json));
    await api(server, token, "DELETE", `/deployed-sandboxes/${id}`);
  });

  test("start counts against the quota of active sandboxes", async () => {
    const a = await deploy(server, token);
    const b = await deploy(server, token);
    assert.equal((await api(server, token, "POST", `/sandbox/${a}/stop`)).json.status, "stopped");
    const c = await deploy(server, token); // a's place
    const start = await api(server, token, "POST", `/sandbox/${a}/start`);
    assert.equal(start.status, 429, JSON.stringify(start.json));
    assert.match(String(start.json.error), /quota/);
    const list = (await api(server, token, "GET", "/deployed-sandboxes")).json as unknown as Array<{ status: string }>;
    assert.equal(list.filter((d) => d.status === "running" || d.status === "provisioning").length, 2);
    assert.equal((await api(server, token, "POST", `/sandbox/${c}/stop`)).json.status, "stopped");
    assert.equal((await api(server, token, "POST", `/sandbox/${a}/start`)).json.status, "running", "with a place free it starts");
    for (const id of [a, b, c]) {
      // deleted rows say they run nothing
      assert.equal((await api(server, token, "DELETE", `/deployed-sandboxes/${id}`)).status, 200);
      assert.notEqual(dbRow(dataDir, id).status, "running", `${id} is deleted`);
      assert.equal(dbRow(dataDir, id).deleted, 1);
    }
  });

  test("exec ends a command (and what it started) after timeout_seconds", async () => {
    const id = await deploy(server, token);
    const slow = await api(server, token, "POST", `/sandbox/${id}/exec`, { command: "sleep 60 & sleep 60; echo never", timeout_seconds: 1 });
    assert.equal(slow.status, 200, JSON.stringify(slow.json));
    assert.equal(slow.json.exit_code, 124);
    assert.equal(slow.json.timed_out, true);
    assert.doesNotMatch(String(slow.json.stdout), /never/);
    await waitFor(async () => (await api(server, token, "POST", `/sandbox/${id}/exec`, { command: "ps -e -o args= | grep -c '^sleep 60$' || true" })).json.stdout === "0\n", 10_000, "the sleeps to be gone");
    const quick = await api(server, token, "POST", `/sandbox/${id}/exec`, { command: "echo fine" });
    assert.equal(quick.json.timed_out, false);
    assert.equal(quick.json.exit_code, 0);
    await api(server, token, "DELETE", `/deployed-sandboxes/${id}`);
  });

  test("the logs route shows neither host paths nor the machine's command line", async () => {
    const id = await deploy(server, token, { start_command: "echo from-the-start-command" });
    await waitFor(async () => String((await api(server, token, "GET", `/deployed-sandboxes/${id}/logs`)).json.text).includes("from-the-start-command"), 10_000, "the start command's output");
    const { text } = (await api(server, token, "GET", `/deployed-sandboxes/${id}/logs`)).json as { text: string };
    assert.match(text, /sandbox ready/);
    assert.match(text, /starting the sandbox/);
    assert.doesNotMatch(text, /bwrap|--bind|--ro-bind/, "no command line");
    assert.ok(!text.includes(dataDir), "no host path");
    const raw = readFileSync(join(sandboxDirOf(dataDir, id), "owner.log"), "utf8");
    assert.ok(raw.includes(dataDir), "the operator's own log keeps them");
    await api(server, token, "DELETE", `/deployed-sandboxes/${id}`);
  });

  test("a shell frame larger than allowed ends that connection, not the server", async () => {
    const id = await deploy(server, token);
    const opened = await openShell(server, token, id);
    assert.ok("ws" in opened, "the shell opened");
    const closed = new Promise<void>((resolve) => opened.ws.once("close", () => resolve()));
    opened.ws.send(Buffer.alloc(2 * 1024 * 1024, 0x61));
    await within(closed, 10_000, "the server to close the connection");
    await assertAlive(server, token);
    await api(server, token, "DELETE", `/deployed-sandboxes/${id}`);
  });
});

describe("revoking a token", { skip: bwrap }, () => {
  let server: CloudServer;
  const dataDir = mkdtempSync(join(tmpdir(), "heyvm-harden-revoke-"));

  before(async () => {
    server = await startCloudServer({ dataDir });
  });
  after(async () => {
    await server?.cleanup();
    await stopOwners(join(dataDir, "h"));
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("ends the token's shells and upload URLs and stops its sandboxes", async () => {
    const token = createToken(dataDir, "leaver");
    const id = await deploy(server, token);
    const owner = ownerPidOf(dataDir, id);
    const opened = await openShell(server, token, id);
    assert.ok("ws" in opened, "the shell opened");
    const shellClosed = new Promise<void>((resolve) => opened.ws.once("close", () => resolve()));
    opened.ws.send(JSON.stringify({ type: "init", cols: 80, rows: 24 }));
    const presign = await api(server, token, "POST", "/sandbox-archives/presign", {});
    const revoke = spawnSync(HEYVM, ["server", "token", "revoke", "leaver", "--data-dir", dataDir], { encoding: "utf8" });
    assert.equal(revoke.status, 0, revoke.stderr);
    await within(shellClosed, 20_000, "the revoked token's shell to end");
    const put = await fetch(String(presign.json.upload_url), { method: "PUT", body: GOOD });
    // refused for its token (403), or already gone with the token's unfinished archives (404)
    assert.ok(put.status === 403 || put.status === 404, `a URL presigned before the revocation is refused (${put.status})`);
    assert.equal((await api(server, token, "GET", "/deployed-sandboxes")).status, 401);
    await waitFor(() => !isAlive(owner), 30_000, "the revoked token's sandbox to stop");
    await waitFor(() => dbRow(dataDir, id).status === "stopped", 10_000, "the stop to be recorded");
    assert.match(String(dbRow(dataDir, id).error_message), /token was revoked/);
    assert.match(server.log(), new RegExp(`deployment ${id}: running -> stopped \\(its API token was revoked\\)`));
  });
});
