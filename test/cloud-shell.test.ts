// The interactive shell of a cloud sandbox over the WebSocket protocol of ARCHITECTURE.md §5: driven by
// the test through the client class and through raw frames (resize, reconnect with sessionId
// and replay of unacknowledged output), and through the real `heyvm sh` (piped and in a pty).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import WebSocket from "ws";
import { CloudShell } from "../src/cloud/shell-client.js";
import { decodeFrame, stdinFrame } from "../src/cloud/shell-frames.js";
import { bubblewrapMissing, makeTestEnv, waitFor, HEYVM, type TestEnv } from "./helpers/env.js";
import { createToken, startCloudServer, type CloudServer } from "./helpers/cloud-server.js";

let ptyAvailable = true;
try {
  await import("node-pty");
} catch {
  ptyAvailable = false;
}
const skip = bubblewrapMissing() || (!ptyAvailable ? "node-pty did not build on this machine" : false);
if (skip) console.log(`# skipping cloud shell tests: ${skip}`);

function shellUrl(server: CloudServer, id: string): string {
  return `${server.url.replace(/^http/, "ws")}/deployed-sandboxes/${id}/shell-stream`;
}

/** A raw protocol client: collects output frames (seq → text) and control messages. */
function rawClient(url: string, token: string) {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
  const frames: Array<{ seq: number; text: string }> = [];
  const controls: Array<Record<string, unknown>> = [];
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (isBinary) {
      const frame = decodeFrame(data);
      if (frame.kind === "stdout") frames.push({ seq: frame.seq, text: frame.data.toString("utf8") });
    } else controls.push(JSON.parse(data.toString("utf8")) as Record<string, unknown>);
  });
  const opened = new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  const output = () => frames.map((f) => f.text).join("");
  return { ws, frames, controls, opened, output };
}

describe("cloud shell over WebSocket", { skip }, () => {
  let t: TestEnv;
  let server: CloudServer;
  let token = "";
  let id = "";

  before(async () => {
    t = makeTestEnv("heyvm-cloud-shell-");
    server = await startCloudServer({ dataDir: join(t.root, "srv") });
    token = createToken(server.dataDir, "alice");
    const login = await t.run(["login", "--api-key", token, "--cloud-url", server.url]);
    assert.equal(login.code, 0, login.stderr);
    const deploy = await t.run(["wt", "feature/shell", "--deploy", "--deploy-driver", "bubblewrap", "--json"]);
    assert.equal(deploy.code, 0, deploy.stderr);
    id = (JSON.parse(deploy.stdout) as { id: string }).id;
  });
  after(async () => {
    await server?.cleanup();
    await t?.cleanup();
  });

  test("a session runs commands in /workspace, follows resizes and reports the exit code", async () => {
    let text = "";
    const shell = new CloudShell({ url: shellUrl(server, id), token, cols: 100, rows: 30 }, { output: (d) => (text += d.toString("utf8")) });
    await shell.open();
    assert.match(shell.sessionId ?? "", /^sh-/);
    shell.write(Buffer.from("pwd; stty size\n"));
    await waitFor(() => /\/workspace[\s\S]*30 100/.test(text), 10_000, "pwd and the first size");
    shell.resize(132, 43);
    shell.write(Buffer.from("stty size\n"));
    await waitFor(() => /43 132/.test(text), 10_000, "the new size");
    shell.write(Buffer.from("exit 3\n"));
    assert.equal(await shell.done, 3);
  });

  test("reconnecting with the sessionId replays the output that was not acknowledged", async () => {
    const url = shellUrl(server, id);
    const first = rawClient(url, token);
    await first.opened;
    first.ws.send(JSON.stringify({ type: "init", cols: 80, rows: 24 }));
    await waitFor(() => first.controls.some((c) => c.type === "ready"), 10_000, "ready");
    const sessionId = String(first.controls.find((c) => c.type === "ready")?.sessionId);
    first.ws.send(stdinFrame(Buffer.from("echo first-$((1+1))\n")));
    await waitFor(() => first.output().includes("first-2"), 10_000, "first output");
    const seenBeforeDrop = first.frames.length;
    first.ws.terminate(); // the network drops; nothing was acknowledged

    const second = rawClient(url, token);
    await second.opened;
    second.ws.send(JSON.stringify({ type: "init", cols: 80, rows: 24, sessionId }));
    await waitFor(() => second.controls.some((c) => c.type === "ready") && second.output().includes("first-2"), 10_000, "replay");
    assert.equal(second.controls.find((c) => c.type === "ready")?.sessionId, sessionId, "same session");
    assert.deepEqual(second.frames.slice(0, seenBeforeDrop).map((f) => f.seq), first.frames.map((f) => f.seq), "same numbered output replayed");

    // acknowledge everything, drop again: the third connection gets only what came after
    const lastSeq = second.frames[second.frames.length - 1]?.seq ?? 0;
    second.ws.send(JSON.stringify({ type: "ack", seq: lastSeq }));
    second.ws.send(stdinFrame(Buffer.from("echo second-$((2+2))\n")));
    await waitFor(() => second.output().includes("second-4"), 10_000, "second output");
    const acked = second.frames[second.frames.length - 1]?.seq ?? 0;
    second.ws.send(JSON.stringify({ type: "ack", seq: acked }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    second.ws.terminate();

    const third = rawClient(url, token);
    await third.opened;
    third.ws.send(JSON.stringify({ type: "init", cols: 80, rows: 24, sessionId }));
    await waitFor(() => third.controls.some((c) => c.type === "ready"), 10_000, "ready again");
    third.ws.send(stdinFrame(Buffer.from("echo third\n")));
    await waitFor(() => third.output().includes("third"), 10_000, "third output");
    assert.ok(third.frames.every((f) => f.seq > acked), "acknowledged output is not replayed");
    assert.doesNotMatch(third.output(), /first-2|second-4/);
    third.ws.send(JSON.stringify({ type: "close" }));
    await waitFor(() => third.controls.some((c) => c.type === "exit"), 10_000, "exit after close");
    third.ws.close();

    const gone = rawClient(url, token);
    await gone.opened;
    gone.ws.send(JSON.stringify({ type: "init", cols: 80, rows: 24, sessionId }));
    await waitFor(() => gone.controls.some((c) => c.type === "error"), 10_000, "an error for the ended session");
    assert.equal(gone.controls.find((c) => c.type === "error")?.code, "session_not_found");
    gone.ws.close();
  });

  test("the client class reconnects by itself and shows nothing twice", async () => {
    let text = "";
    const shell = new CloudShell({ url: shellUrl(server, id), token, cols: 80, rows: 24, reconnectDelayMs: 100 }, { output: (d) => (text += d.toString("utf8")) });
    await shell.open();
    shell.write(Buffer.from("echo before-$((3*3))\n"));
    await waitFor(() => text.includes("before-9"), 10_000, "output before the drop");
    shell.dropConnection();
    shell.write(Buffer.from("echo after-$((4*4))\n")); // queued until the session is back
    await waitFor(() => text.includes("after-16"), 10_000, "output after reconnecting");
    assert.equal(text.split("before-9").length - 1, 1, "replayed output is not shown twice");
    shell.write(Buffer.from("exit 0\n"));
    assert.equal(await shell.done, 0);
  });

  test("another token cannot open a shell; a missing token is refused", async () => {
    const other = createToken(server.dataDir, "mallory");
    for (const [auth, status] of [[`Bearer ${other}`, 404], [undefined, 401]] as const) {
      const ws = new WebSocket(shellUrl(server, id), { headers: auth ? { authorization: auth } : {} });
      const code = await new Promise<number>((resolve) => {
        ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
        ws.on("open", () => resolve(101));
        ws.on("error", () => undefined);
      });
      ws.terminate();
      assert.equal(code, status);
    }
  });

  test("heyvm sh with piped input runs the lines and exits with the shell's code", async () => {
    const result = await t.run(["sh", id], { input: "echo $((6*7))\nexit 4\n" });
    assert.equal(result.code, 4, result.stderr);
    assert.match(result.stdout, /^42\r?$/m);
  });

  test("heyvm sh in a terminal passes the window size on SIGWINCH", async () => {
    const pty = await import("node-pty");
    const term = pty.spawn(HEYVM, ["sh", id], { cols: 90, rows: 20, cwd: t.repo, env: { ...t.env } as Record<string, string>, name: "xterm" });
    let text = "";
    term.onData((d) => (text += d));
    const exited = new Promise<number>((resolve) => term.onExit(({ exitCode }) => resolve(exitCode)));
    try {
      term.write("stty size\r");
      await waitFor(() => /20 90/.test(text), 15_000, "the first size");
      term.resize(120, 40); // the kernel sends heyvm SIGWINCH
      await new Promise((resolve) => setTimeout(resolve, 300));
      term.write("stty size\r");
      await waitFor(() => /40 120/.test(text), 15_000, "the new size");
      term.write("exit 6\r");
      assert.equal(await exited, 6);
    } finally {
      try {
        term.kill();
      } catch {
        // already exited
      }
    }
  });
});
