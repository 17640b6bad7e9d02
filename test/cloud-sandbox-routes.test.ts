// The cloud server's read-file, write-file, restart and shell-session routes (issue 21), called
// as an SDK calls them (raw HTTP against a real `heyvm server` on 127.0.0.1 and one real
// bubblewrap deployment shared by every case): confinement to /workspace, links refused, the
// 1 MB body cap, another tenant refused, and 401 before 404 without a token.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import WebSocket from "ws";
import { decodeFrame, stdinFrame } from "../src/cloud/shell-frames.js";
import { bubblewrapMissing, makeTestEnv, waitFor, type TestEnv } from "./helpers/env.js";
import { api, createToken, startCloudServer, type CloudServer } from "./helpers/cloud-server.js";

const skip = bubblewrapMissing();
if (skip) console.log(`# skipping cloud sandbox route tests: ${skip}`);

describe("cloud routes: read-file, write-file, restart, shell-session", { skip }, () => {
  let t: TestEnv;
  let server: CloudServer;
  let token = "";
  let id = "";

  const sh = async (command: string) => {
    const result = await api(server, token, "POST", `/sandbox/${id}/exec`, { command });
    assert.equal(result.status, 200, JSON.stringify(result.json));
    return result.json as { stdout: string; exit_code: number };
  };

  before(async () => {
    t = makeTestEnv("heyvm-cloud-routes-");
    server = await startCloudServer({ dataDir: join(t.root, "srv") });
    token = createToken(server.dataDir, "alice");
    const login = await t.run(["login", "--api-key", token, "--cloud-url", server.url]);
    assert.equal(login.code, 0, login.stderr);
    const deploy = await t.run(["wt", "feature/routes", "--deploy", "--deploy-driver", "bubblewrap", "--json"]);
    assert.equal(deploy.code, 0, deploy.stderr);
    id = (JSON.parse(deploy.stdout) as { id: string }).id;
  });
  after(async () => {
    await server?.cleanup();
    await t?.cleanup();
  });

  test("write-file then read-file carries bytes exactly, and the sandbox sees the file", async () => {
    const bytes = Buffer.from([0, 1, 2, 255, 254, 10, 13, 0x80, ...Buffer.from("héllo")]);
    const written = await api(server, token, "POST", `/sandbox/${id}/write-file`, { path: "/workspace/data.bin", content: bytes.toString("base64"), mode: 0o640 });
    assert.equal(written.status, 200, JSON.stringify(written.json));
    assert.deepEqual(written.json, { path: "/workspace/data.bin", size_bytes: bytes.length });
    const read = await api(server, token, "POST", `/sandbox/${id}/read-file`, { path: "/workspace/data.bin" });
    assert.equal(read.status, 200, JSON.stringify(read.json));
    assert.equal(read.json.size_bytes, bytes.length);
    assert.deepEqual(Buffer.from(String(read.json.content), "base64"), bytes);
    const inside = await sh("stat -c '%s %a' /workspace/data.bin");
    assert.equal(inside.stdout.trim(), `${bytes.length} 640`);
    const missing = await api(server, token, "POST", `/sandbox/${id}/read-file`, { path: "/workspace/nope" });
    assert.equal(missing.status, 404);
  });

  test("paths outside /workspace, traversal and links are refused, and nothing behind them is read or written", async () => {
    await sh("ln -s /etc/passwd /workspace/link && ln -s /etc /workspace/dirlink && echo keep > /workspace/target && ln -s /workspace/target /workspace/tlink");
    for (const path of ["/etc/passwd", "/workspace/../etc/passwd", "/workspace/./data.bin", "/workspace//data.bin", "workspace/data.bin", "/workspace"]) {
      const read = await api(server, token, "POST", `/sandbox/${id}/read-file`, { path });
      assert.equal(read.status, 422, `${path}: ${JSON.stringify(read.json)}`);
    }
    for (const path of ["/workspace/link", "/workspace/dirlink/passwd"]) {
      const read = await api(server, token, "POST", `/sandbox/${id}/read-file`, { path });
      assert.equal(read.status, 422, `${path}: ${JSON.stringify(read.json)}`);
      assert.equal(read.json.content, undefined);
    }
    for (const path of ["/workspace/tlink", "/workspace/dirlink/heyvm-routes-test"]) {
      const write = await api(server, token, "POST", `/sandbox/${id}/write-file`, { path, content: Buffer.from("owned").toString("base64") });
      assert.equal(write.status, 422, `${path}: ${JSON.stringify(write.json)}`);
    }
    assert.equal((await sh("cat /workspace/target; ls /etc/heyvm-routes-test 2>&1 || true")).stdout.split("\n")[0], "keep");
  });

  test("a body over 1 MB answers 413; another tenant gets 404; no token gets 401 before 404", async () => {
    const big = await api(server, token, "POST", `/sandbox/${id}/write-file`, { path: "/workspace/big", content: Buffer.alloc(900_000, 7).toString("base64") });
    assert.equal(big.status, 413, JSON.stringify(big.json));
    const other = createToken(server.dataDir, "mallory");
    const foreign = await api(server, other, "POST", `/sandbox/${id}/read-file`, { path: "/workspace/data.bin" });
    assert.equal(foreign.status, 404);
    for (const path of [`/sandbox/${id}/read-file`, `/sandbox/${id}/write-file`, `/deployed-sandboxes/${id}/restart`, `/deployed-sandboxes/${id}/shell-session`, "/sandbox/dep-nothere/read-file"]) {
      assert.equal((await api(server, undefined, "POST", path, {})).status, 401, path);
    }
    assert.equal((await api(server, token, "POST", "/sandbox/dep-nothere/read-file", { path: "/workspace/x" })).status, 404);
  });

  test("shell-session gives a WebSocket URL whose short-lived token opens a shell without a header", async () => {
    const session = await api(server, token, "POST", `/deployed-sandboxes/${id}/shell-session`);
    assert.equal(session.status, 200, JSON.stringify(session.json));
    const { url, token: sessionToken, expires_at: expiresAt } = session.json as { url: string; token: string; expires_at: string };
    assert.ok(url.startsWith("ws://127.0.0.1") && url.includes(sessionToken.split(".")[0] ?? "x"), url);
    assert.ok(Date.parse(expiresAt) > Date.now());
    const ws = new WebSocket(url);
    let text = "";
    const controls: Array<Record<string, unknown>> = [];
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return void controls.push(JSON.parse(data.toString("utf8")) as Record<string, unknown>);
      const frame = decodeFrame(data);
      if (frame.kind === "stdout") text += frame.data.toString("utf8");
    });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    ws.send(JSON.stringify({ type: "init", cols: 80, rows: 24 }));
    await waitFor(() => controls.some((c) => c.type === "ready"), 15_000, "the shell's ready");
    ws.send(stdinFrame(Buffer.from("echo via-session-$((3*5))\n")));
    await waitFor(() => text.includes("via-session-15"), 15_000, "the command's output");
    ws.terminate();
    // the token is bound to its deployment and cannot be forged or stretched
    const otherUrl = url.replace(`/deployed-sandboxes/${id}/`, "/deployed-sandboxes/dep-000000000000/");
    const [tokenId, expires, mac] = sessionToken.split(".");
    const forged = url.replace(encodeURIComponent(sessionToken), encodeURIComponent(`${tokenId}.${Number(expires) + 3600}.${mac}`));
    for (const bad of [otherUrl, forged, url.replace(/\?.*$/, "")]) {
      const refused = new WebSocket(bad);
      const code = await new Promise<number>((resolve) => {
        refused.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
        refused.on("open", () => resolve(101));
        refused.on("error", () => undefined);
      });
      refused.terminate();
      assert.equal(code, 401, bad);
    }
  });

  test("restart stops and starts the deployment: running again, /workspace kept, a fresh machine (/tmp empty)", async () => {
    await sh("echo here > /tmp/before-restart");
    assert.equal((await sh("cat /tmp/before-restart")).stdout.trim(), "here");
    const restarted = await api(server, token, "POST", `/deployed-sandboxes/${id}/restart`);
    assert.equal(restarted.status, 200, JSON.stringify(restarted.json));
    assert.equal(restarted.json.status, "running");
    const after = await sh("cat /workspace/target; cat /tmp/before-restart 2>/dev/null || echo fresh");
    assert.deepEqual(after.stdout.trim().split("\n"), ["keep", "fresh"]);
  });
});
