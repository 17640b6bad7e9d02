// Issue 21's two cloud port gaps, through bin/heyvm against a real `heyvm server` on 127.0.0.1
// whose deployment is a real bubblewrap sandbox running busybox httpd on a port NOT opened at
// create: `bind dep-… <port>` reaches it through the proxy (a connector per connection inside
// the sandbox), `port-forward dep-… <port>` relays it to 127.0.0.1 through the tunnel route,
// another token reaches neither, the per-token relay cap answers 429, and no connector is left
// running once the client leaves.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import WebSocket from "ws";
import { bubblewrapMissing, hasCommand, makeTestEnv, waitFor, type TestEnv } from "./helpers/env.js";
import { createToken, loopbackUrl, startCloudServer, type CloudServer } from "./helpers/cloud-server.js";

const skip = bubblewrapMissing() || (!hasCommand("busybox") ? "busybox (its httpd serves in the sandbox) is not installed" : false);
if (skip) console.log(`# skipping cloud port tests: ${skip}`);

/** A port no other test uses, so the connectors counted below are this file's. */
const PORT = 18731;
const RELAYS_PER_TOKEN = 2;

/** Processes of connectors (started by the server for PORT) still running on this host (several per connector: the exec recipe, bash, its subshell). */
/** What those processes are, for a failure's message. */
function connectorTable(): string {
  return spawnSync("sh", ["-c", `ps -eo pid,ppid,pgid,sid,user,args | grep '[h]eyvm-connect ${PORT}'`], { encoding: "utf8" }).stdout;
}

function connectors(): number {
  const found = spawnSync("pgrep", ["-f", `heyvm-connect ${PORT}`], { encoding: "utf8" });
  return found.stdout.split("\n").filter(Boolean).length;
}

/** Opens a tunnel WebSocket; resolves with it once open, or with the HTTP status and body that refused it. */
function openTunnel(url: string, token: string | undefined): Promise<{ ws?: WebSocket; status?: number; body: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    ws.on("open", () => resolve({ ws, body: "" }));
    ws.on("unexpected-response", (_request, response) => {
      let body = "";
      response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode, body }));
    });
    ws.on("error", (error) => resolve({ body: error.message }));
  });
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return typeof address === "object" && address ? address.port : 0;
}

describe("cloud bind and port-forward of a port not forwarded at boot", { skip }, () => {
  let t: TestEnv;
  let server: CloudServer;
  let alice = "";
  let bob = "";
  let dep = "";
  let tunnelUrl = "";

  before(async () => {
    t = makeTestEnv("heyvm-cloud-ports-");
    server = await startCloudServer({ dataDir: join(t.root, "srv"), args: ["--max-relays-per-token", String(RELAYS_PER_TOKEN)] });
    alice = createToken(server.dataDir, "alice");
    bob = createToken(server.dataDir, "bob");
    assert.equal((await t.run(["login", "--api-key", alice, "--cloud-url", server.url])).code, 0);
    const created = await t.run(
      ["create", "--cloud", "--backend", "bubblewrap", "--name", "ports", "--setup-hook", "echo cloud page > /workspace/index.html", "--start-command", `busybox httpd -f -p ${PORT} -h /workspace`, "--format", "json"],
      { timeoutMs: 300_000 },
    );
    assert.equal(created.code, 0, created.stderr);
    dep = (JSON.parse(created.stdout) as { id: string }).id;
    tunnelUrl = `${server.url.replace(/^http/, "ws")}/deployed-sandboxes/${dep}/ports/${PORT}/tunnel`;
  });
  after(async () => {
    await server?.cleanup();
    await t?.cleanup();
  });

  test("bind dep-… <port> of a port not opened at create: the URL reaches it; no connector is left after", async () => {
    const bound = await t.run(["bind", dep, String(PORT), "--format", "json"]);
    assert.equal(bound.code, 0, bound.stderr);
    const endpoint = JSON.parse(bound.stdout) as { port: number; host_port: null; url: string };
    assert.deepEqual([endpoint.port, endpoint.host_port], [PORT, null]);
    let last = "";
    await waitFor(
      async () => {
        const answer = await fetch(`${loopbackUrl(endpoint.url)}index.html`);
        last = `${answer.status} ${await answer.text()}`;
        return answer.status === 200;
      },
      30_000,
      "the endpoint to answer",
    ).catch(() => assert.fail(`the endpoint never answered 200; last answer: ${last}`));
    assert.equal(last, "200 cloud page\n");
    await waitFor(() => connectors() === 0, 10_000, "the connectors to end").catch(() => assert.fail(`connector processes still run:\n${connectorTable()}`));
  });

  test("port-forward dep-… <port> [-p]: one JSON line, fetch through 127.0.0.1, exit 0 on Ctrl-C, nothing left running", async () => {
    const hostPort = await freePort();
    const child = t.spawn(["port-forward", dep, String(PORT), "-p", String(hostPort), "--format", "json"]);
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    await waitFor(() => stdout.includes("\n") || child.exitCode !== null, 20_000, "port-forward to listen").catch(() => undefined);
    assert.ok(stdout.includes("\n"), `port-forward printed nothing (exit ${child.exitCode}): ${stderr}`);
    const line = JSON.parse(stdout.split("\n")[0] ?? "") as { port: number; host_port: number; url: string };
    assert.deepEqual(line, { port: PORT, host_port: hostPort, url: `http://127.0.0.1:${hostPort}` });
    for (let i = 0; i < 3; i++) {
      const answer = await fetch(`${line.url}/index.html`);
      assert.deepEqual([answer.status, await answer.text()], [200, "cloud page\n"]);
    }
    child.kill("SIGINT");
    assert.equal(await exited, 0, stderr);
    await waitFor(() => connectors() === 0, 10_000, "the connectors to end").catch(() => assert.fail(`connector processes still run:\n${connectorTable()}`));
    const refused = await fetch(`${line.url}/index.html`).then(() => "answered", () => "refused");
    assert.equal(refused, "refused", "the listener is gone after Ctrl-C");
  });

  test("another token reaches neither the tunnel nor a private URL; no token gets 401", async () => {
    const asBob = await openTunnel(tunnelUrl, bob);
    assert.equal(asBob.status, 404, asBob.body);
    const anonymous = await openTunnel(tunnelUrl, undefined);
    assert.equal(anonymous.status, 401, anonymous.body);
    const bobForward = await t.run(["port-forward", dep, String(PORT)], { env: { HEYO_API_KEY: bob } });
    assert.notEqual(bobForward.code, 0);
    assert.match(bobForward.stderr, new RegExp(`no cloud sandbox ${dep}`), "the same answer as for no such sandbox");
    const bound = await t.run(["bind", dep, String(PORT), "--private", "--format", "json"]);
    assert.equal(bound.code, 0, bound.stderr);
    const url = `${loopbackUrl((JSON.parse(bound.stdout) as { url: string }).url)}index.html`;
    assert.equal((await fetch(url, { headers: { authorization: `Bearer ${bob}` } })).status, 404);
    const asAlice = await fetch(url, { headers: { authorization: `Bearer ${alice}` } });
    assert.deepEqual([asAlice.status, await asAlice.text()], [200, "cloud page\n"]);
  });

  test("the per-token relay cap answers 429 with retry_after, for tunnels and the proxy; places come back when clients leave", async () => {
    const held = await Promise.all(Array.from({ length: RELAYS_PER_TOKEN }, () => openTunnel(tunnelUrl, alice)));
    try {
      for (const tunnel of held) assert.ok(tunnel.ws, `a tunnel within the cap opens: ${tunnel.status} ${tunnel.body}`);
      const beyond = await openTunnel(tunnelUrl, alice);
      assert.equal(beyond.status, 429, beyond.body);
      assert.equal((JSON.parse(beyond.body) as { retry_after: number }).retry_after > 0, true);
      const bound = JSON.parse((await t.run(["bind", dep, String(PORT), "--format", "json"])).stdout) as { url: string };
      assert.equal((await fetch(`${loopbackUrl(bound.url)}index.html`)).status, 429);
      assert.ok(connectors() > 0, "the held tunnels' connectors run");
    } finally {
      for (const tunnel of held) tunnel.ws?.close();
    }
    await waitFor(() => connectors() === 0, 10_000, "the connectors to end").catch(() => assert.fail(`connector processes still run:\n${connectorTable()}`));
    const again = await openTunnel(tunnelUrl, alice);
    assert.ok(again.ws, `the places came back: ${again.status} ${again.body}`);
    again.ws.close();
  });
});
