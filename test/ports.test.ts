// bind / unbind / port-forward / wait-for on local sandboxes (issue 21), through bin/heyvm and
// parsed as an SDK parses them: real bubblewrap sandboxes (two, to show binds never collide)
// serving with busybox httpd. libvirt: test/cloud-libvirt-deploy.test.ts binds a port of its VM
// (which reuses the image that file builds anyway).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bubblewrapMissing, hasCommand, isAlive, makeTestEnv, waitFor, type TestEnv } from "./helpers/env.js";

const skip = bubblewrapMissing() || (!hasCommand("busybox") ? "busybox (its httpd serves in the sandbox) is not installed" : false);
if (skip) console.log(`# skipping port tests: ${skip}`);

interface Bound {
  port: number;
  host_port: number;
  url: string;
}

async function body(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return (await response.text()).trim();
}

async function refused(url: string): Promise<boolean> {
  return fetch(url, { signal: AbortSignal.timeout(5000) }).then(
    () => false,
    () => true,
  );
}

/** Every relay pid recorded in a HEYO_HOME (killed after the tests, should one be left). */
function relayPids(home: string): number[] {
  const root = join(home, "sandboxes");
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((id) => {
    const file = join(root, id, "binds.json");
    if (!existsSync(file)) return [];
    return Object.values(JSON.parse(readFileSync(file, "utf8")) as Record<string, { pid: number | null }>).flatMap((b) => (b.pid ? [b.pid] : []));
  });
}

describe("ports of local sandboxes: bind, unbind, port-forward, wait-for", { skip }, () => {
  let t: TestEnv;
  const ids: string[] = [];
  const json = <T>(stdout: string) => JSON.parse(stdout) as T;

  async function create(name: string): Promise<string> {
    const folder = join(t.root, name);
    mkdirSync(folder);
    writeFileSync(join(folder, "index.html"), `served by ${name}\n`);
    const created = await t.run(["create", "--backend", "bubblewrap", "--name", name, "--mount", `${folder}:/workspace`, "--format", "json"]);
    assert.equal(created.code, 0, created.stderr);
    const id = json<{ id: string }>(created.stdout).id;
    ids.push(id);
    return id;
  }

  async function serve(id: string, port: number): Promise<void> {
    const started = await t.run(["exec", id, "--", "busybox", "httpd", "-p", String(port), "-h", "/workspace"]);
    assert.equal(started.code, 0, started.stderr);
  }

  before(async () => {
    t = makeTestEnv("heyvm-ports-");
    await create("alpha");
    await create("beta");
  });
  after(async () => {
    // relays first, and waited for: one that notices its sandbox gone rewrites binds.json, which
    // must not happen while the clean-up removes the folder (ENOTEMPTY)
    const relays = t ? relayPids(t.home).filter(isAlive) : [];
    for (const pid of relays) process.kill(pid, "SIGTERM");
    await waitFor(() => relays.every((pid) => !isAlive(pid)), 5_000, "relays to end").catch(() => {
      for (const pid of relays) if (isAlive(pid)) process.kill(pid, "SIGKILL");
    });
    await t?.cleanup();
  });

  test("wait-for: a port nobody serves times out (exit 8, the error as JSON); once served it answers TCP and HTTP", async () => {
    const [id] = ids as [string];
    const timedOut = await t.run(["wait-for", id, "8000", "--timeout", "1", "--format", "json"]);
    assert.equal(timedOut.code, 8, timedOut.stderr);
    const error = json<{ error: { message: string; exit_code: number } }>(timedOut.stdout).error;
    assert.match(error.message, /port 8000 of sb-[0-9a-f]+ did not answer a TCP connection within 1 s/);
    assert.equal(error.exit_code, 8);
    await serve(id, 8000);
    const tcp = await t.run(["wait-for", id, "8000", "--timeout", "20", "--format", "json"]);
    assert.equal(tcp.code, 0, tcp.stderr);
    assert.deepEqual({ ...json<Record<string, unknown>>(tcp.stdout), elapsed_ms: 0 }, { port: 8000, ready: true, http_status: null, elapsed_ms: 0 });
    const http = await t.run(["wait-for", id, "8000", "--path", "/index.html", "--timeout", "20", "--format", "json"]);
    assert.equal(http.code, 0, http.stderr);
    assert.equal(json<{ http_status: number }>(http.stdout).http_status, 200);
    const badPath = await t.run(["wait-for", id, "8000", "--path", "no-slash"]);
    assert.equal(badPath.code, 2);
    assert.match(badPath.stderr, /--path takes an absolute URL path/);
  });

  test("bind: each sandbox's port on its own free port of 127.0.0.1, listed by get, kept across a restart, gone after unbind", async () => {
    const [alpha, beta] = ids as [string, string];
    await serve(beta, 8000);
    const boundA = json<Bound>((await t.run(["bind", alpha, "8000", "--format", "json"])).stdout);
    const boundB = json<Bound>((await t.run(["bind", beta, "8000", "--format", "json"])).stdout);
    assert.equal(boundA.port, 8000);
    assert.notEqual(boundA.host_port, boundB.host_port, "two sandboxes never share a host port");
    assert.equal(boundA.url, `http://127.0.0.1:${boundA.host_port}`);
    assert.equal(await body(`${boundA.url}/index.html`), "served by alpha");
    assert.equal(await body(`${boundB.url}/index.html`), "served by beta");
    // binding again gives the same port
    assert.equal(json<Bound>((await t.run(["bind", alpha, "8000", "--format", "json"])).stdout).host_port, boundA.host_port);
    const got = json<{ ports: Array<Bound & { active: boolean; via: string }> }>((await t.run(["get", alpha, "--format", "json"])).stdout);
    assert.deepEqual(got.ports.map((p) => [p.port, p.host_port, p.active, p.via]), [[8000, boundA.host_port, true, "relay"]]);

    // stopped: nothing answers; started again: the same URL, once the service is back
    assert.equal((await t.run(["stop", alpha])).code, 0);
    await waitFor(() => refused(boundA.url), 10_000, "the relay to end with the sandbox");
    const started = await t.run(["start", alpha, "--quiet"]);
    assert.equal(started.code, 0, started.stderr);
    await serve(alpha, 8000);
    assert.equal(await body(`${boundA.url}/index.html`), "served by alpha");

    const unbound = await t.run(["unbind", alpha, "8000", "--format", "json"]);
    assert.equal(unbound.code, 0, unbound.stderr);
    assert.deepEqual(json<Record<string, unknown>>(unbound.stdout), { port: 8000, host_port: boundA.host_port, was_active: true });
    await waitFor(() => refused(boundA.url), 10_000, "the unbound port to close");
    const again = await t.run(["unbind", alpha, "8000"]);
    assert.equal(again.code, 3);
    assert.match(again.stderr, /port 8000 of sb-[0-9a-f]+ is not bound/);
    assert.equal(await body(`${boundB.url}/index.html`), "served by beta", "the other sandbox's bind is untouched");
    const wrong = await t.run(["bind", alpha, "70000"]);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /bind takes a port number from 1 to 65535/);
  });

  test("port-forward -p: listens where asked, prints {port, host_port, url}, relays until Ctrl-C", async () => {
    const [alpha] = ids as [string];
    const probe = spawnSync("node", ["-e", "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"], { encoding: "utf8" });
    const hostPort = Number(probe.stdout.trim());
    const child = t.spawn(["port-forward", alpha, "8000", "-p", String(hostPort), "--format", "json"]);
    let out = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => (out += d));
    await waitFor(() => out.includes("\n"), 15_000, "port-forward's line");
    assert.deepEqual(JSON.parse(out.split("\n")[0] ?? ""), { port: 8000, host_port: hostPort, url: `http://127.0.0.1:${hostPort}` });
    assert.equal(await body(`http://127.0.0.1:${hostPort}/index.html`), "served by alpha");
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    child.kill("SIGINT");
    assert.equal(await exited, 0);
    assert.ok(await refused(`http://127.0.0.1:${hostPort}/`));
    const busy = await t.run(["port-forward", alpha, "8000", "-p", String(json<Bound>((await t.run(["bind", ids[1] ?? "", "8000", "--format", "json"])).stdout).host_port)]);
    assert.equal(busy.code, 4, busy.stderr);
    assert.match(busy.stderr, /is in use/);
  });
});

