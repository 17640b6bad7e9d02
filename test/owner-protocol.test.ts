// owner.sock and the monitor's command line, as contracts: the Node owner and the native monitor
// give the same answers, byte for byte, to the same requests (good ones, malformed ones, too long
// ones) and end with the same exit.json; the monitor understands every option of the table the
// owner builds its argv from, has no defaults for the stop timings, and refuses another API
// version before it touches anything.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MONITOR_API_VERSION, MONITOR_OPTIONS, MONITOR_WRONG_VERSION_EXIT_CODE, monitorArgv, type MonitorInvocation } from "../src/owner/monitor-argv.js";
import { OWNER_REQUEST_MAX_BYTES, STOP_COMMAND_TIMEOUT_MS, STOP_FORCE_WAIT_MS } from "../src/shared/owner-protocol.js";
import { hasCommand, isAlive, makeTestEnv, waitFor, type TestEnv, idOf } from "./helpers/env.js";

const MONITOR = fileURLToPath(new URL("../../build/Release/heyvm-owner-monitor", import.meta.url));
const notBuilt = existsSync(MONITOR) ? false : `the native owner monitor is not built (${MONITOR}); run npm run build`;
const noSandboxes = !hasCommand("bwrap") ? "bubblewrap (bwrap) is not installed" : notBuilt;

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One connection: the chunks written (a pause between them), then what the owner answered. */
interface Exchange {
  name: string;
  send: string[];
  /** Left open after sending: only an owner that closes it ends the exchange (closed: true). */
  keepOpen?: boolean;
  /** The answers expected, with "<id>" and "<pid>" for the owner's own. */
  expect: string[];
}

interface Transcript {
  name: string;
  answers: string;
  closed: boolean;
}

async function converse(socketPath: string, exchange: Exchange): Promise<Transcript> {
  const socket = createConnection(socketPath);
  let answers = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => (answers += chunk));
  socket.on("error", () => undefined); // a reset after a refused line: what was answered is kept
  const closed = new Promise<boolean>((resolve) => socket.on("close", () => resolve(true)));
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  for (const chunk of exchange.send) {
    socket.write(chunk);
    await delay(30);
  }
  if (!exchange.keepOpen) socket.end();
  const closedInTime = await Promise.race([closed, delay(3000).then(() => false)]);
  socket.destroy();
  return { name: exchange.name, answers, closed: closedInTime };
}

const STATUS = '{"ok":true,"id":"<id>","pid":"<pid>","state":"running"}';
const MALFORMED = '{"ok":false,"error":"malformed request"}';

/** A status request padded to exactly `bytes` bytes, its newline included. */
function statusOfLength(bytes: number): string {
  const head = '{"op":"status","pad":"';
  const tail = '"}\n';
  return head + "x".repeat(bytes - head.length - tail.length) + tail;
}

const EXCHANGES: Exchange[] = [
  { name: "status", send: ['{"op":"status"}\n'], expect: [STATUS] },
  { name: "status with other members and spaces", send: [' { "extra" : [1, {"op": "stop"}, null, true, -1.5e3, "\\"op\\":\\"stop\\""], "op" : "status" } \r\n'], expect: [STATUS] },
  { name: "status split across writes", send: ['{"op":"sta', 'tus"}\n'], expect: [STATUS] },
  { name: "two requests in one write", send: ['{"op":"status"}\n{"op":"status"}\n'], expect: [STATUS, STATUS] },
  { name: "escaped names", send: ['{"\\u006fp":"st\\u0061tus"}\n'], expect: [STATUS] },
  { name: "not JSON", send: ["hello\n"], expect: [MALFORMED] },
  { name: "JSON cut short", send: ['{"op":"status"\n'], expect: [MALFORMED] },
  { name: "something after the object", send: ['{"op":"status"} x\n'], expect: [MALFORMED] },
  { name: "an empty line", send: ["\n"], expect: [MALFORMED] },
  { name: "not an object", send: ['["status"]\n', '"status"\n', "42\n", "null\n"], expect: [MALFORMED, MALFORMED, MALFORMED, MALFORMED] },
  { name: "an unknown op", send: ['{"op":"nonsense"}\n'], expect: [MALFORMED] },
  { name: "an op that is not a string", send: ['{"op":5}\n'], expect: [MALFORMED] },
  { name: "an op given twice (the last counts)", send: ['{"op":"status","op":"nonsense"}\n'], expect: [MALFORMED] },
  { name: "a raw control character in a string", send: ['{"op":"status","x":"a\tb"}\n'], expect: [MALFORMED] },
  { name: "a bad number", send: ['{"op":"status","n":01}\n'], expect: [MALFORMED] },
  { name: "malformed, then status on the same connection", send: ["nope\n", '{"op":"status"}\n'], expect: [MALFORMED, STATUS] },
  { name: "the longest line", send: [statusOfLength(OWNER_REQUEST_MAX_BYTES)], expect: [STATUS] },
  { name: "a line one byte too long", send: [statusOfLength(OWNER_REQUEST_MAX_BYTES + 1)], keepOpen: true, expect: [MALFORMED] },
  { name: "too long and no newline", send: ["x".repeat(OWNER_REQUEST_MAX_BYTES)], keepOpen: true, expect: [MALFORMED] },
  { name: "status, then a line too long", send: ['{"op":"status"}\n' + "y".repeat(OWNER_REQUEST_MAX_BYTES + 10)], keepOpen: true, expect: [STATUS, MALFORMED] },
];

const STOP_REASON = 'protocol "test" \u00e9\nsecond line';
const STOP: Exchange = {
  name: "stop, then status",
  send: [`${JSON.stringify({ op: "stop", reason: STOP_REASON })}\n{"op":"status"}\n`],
  expect: ['{"ok":true}', STATUS.replace("running", "stopping")],
};

describe("owner.sock: the Node owner and the native monitor answer alike", { skip: noSandboxes }, () => {
  let t: TestEnv;
  before(() => {
    t = makeTestEnv();
  });
  after(async () => {
    await t.cleanup();
  });

  async function start(branch: string, env: NodeJS.ProcessEnv): Promise<{ id: string; pid: number }> {
    const started = await t.run(["wt", branch, "--detach", "-q"], { env });
    assert.equal(started.code, 0, started.stderr);
    const id = idOf(started.stdout);
    const { pid } = JSON.parse(readFileSync(join(t.home, "sandboxes", id, "owner.json"), "utf8")) as { pid: number };
    return { id, pid };
  }

  /** Every exchange with one owner, its id and pid written as <id> and <pid>; then its stop. */
  async function transcriptOf(owner: { id: string; pid: number }): Promise<{ transcripts: Transcript[]; exitReason: string }> {
    const socket = join(t.home, "sandboxes", owner.id, "owner.sock");
    const normalise = (transcript: Transcript) => ({
      ...transcript,
      answers: transcript.answers.replaceAll(`"id":"${owner.id}"`, '"id":"<id>"').replaceAll(`"pid":${owner.pid}`, '"pid":"<pid>"'),
    });
    const transcripts: Transcript[] = [];
    for (const exchange of [...EXCHANGES, STOP]) transcripts.push(normalise(await converse(socket, exchange)));
    await waitFor(() => !isAlive(owner.pid), 20_000, `the owner ${owner.pid} to stop`);
    const exit = JSON.parse(readFileSync(join(t.home, "sandboxes", owner.id, "exit.json"), "utf8")) as { reason: string };
    return { transcripts, exitReason: exit.reason };
  }

  test("the same requests get the same answers from both, and a stop is recorded alike", async () => {
    const nodeOwner = await start("protocol/node", { HEYVM_OWNER_MONITOR: "0" });
    const nativeOwner = await start("protocol/native", {});
    assert.equal(readlinkSync(`/proc/${nodeOwner.pid}/exe`), process.execPath);
    assert.equal(readlinkSync(`/proc/${nativeOwner.pid}/exe`), MONITOR);

    const fromNode = await transcriptOf(nodeOwner);
    const fromNative = await transcriptOf(nativeOwner);
    const expected = [...EXCHANGES, STOP].map((exchange) => ({
      name: exchange.name,
      answers: exchange.expect.map((line) => `${line}\n`).join(""),
      closed: true,
    }));
    assert.deepEqual(fromNode.transcripts, expected, "the Node owner's answers");
    assert.deepEqual(fromNative.transcripts, fromNode.transcripts, "the native monitor answers as the Node owner does");
    assert.equal(fromNode.exitReason, STOP_REASON);
    assert.equal(fromNative.exitReason, fromNode.exitReason);
  });
});

describe("the monitor's command line", { skip: notBuilt }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "heyvm-monitor-argv-"));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** An invocation naming every option, for a machine that has already ended. */
  function invocation(name: string): MonitorInvocation {
    const ended = spawnSync("true").pid; // reaped already: not the monitor's child, not alive
    const path = (file: string) => join(dir, `${name}-${file}`);
    writeFileSync(path("owner.json"), "{}\n");
    writeFileSync(path("live"), "");
    writeFileSync(path("console"), "logged before\nlogged after\n");
    return {
      id: `argv-${name}`,
      logPath: path("owner.log"),
      ownerPath: path("owner.json"),
      exitPath: path("exit.json"),
      liveMarker: path("live"),
      changedMarker: path("changed"),
      deadlineEpochMs: Date.now() + 3_600_000,
      socketPath: path("owner.sock"),
      listenFd: 0,
      readyFd: 3,
      attached: true,
      machine: {
        child: { pid: ended, name: "fake-machine" },
        keepFds: [0],
        consoleFds: [0],
        drainFds: [0],
        watch: { pid: ended, reason: "the fake machine's process ended" },
        follow: { path: path("console"), offset: "logged before\n".length },
        cleanUpAfterEnd: true,
      },
      stopCommand: ["true"],
      gitSync: { watch: [path("git-ref")], command: ["true"], intervalMs: 60_000 },
    };
  }

  const run = (argv: string[]) => spawnSync(MONITOR, argv.slice(1), { stdio: ["ignore", "pipe", "pipe", "pipe"], encoding: "utf8", timeout: 10_000 });

  test("it says which API version it speaks, the one the owner hands it", () => {
    const asked = spawnSync(MONITOR, ["--api-version"], { encoding: "utf8" });
    assert.deepEqual([asked.status, asked.stdout], [0, `${MONITOR_API_VERSION}\n`]);
  });

  test("it understands every option of the table (and finishes at once for a machine already gone)", () => {
    const given = invocation("every");
    const argv = monitorArgv(given);
    for (const option of MONITOR_OPTIONS) assert.ok(argv.includes(option.flag), `${option.flag} is rendered`);
    assert.deepEqual(argv.slice(0, 6), ["heyvm", "__sandbox_owner", "argv-every", "--monitor", "--api-version", String(MONITOR_API_VERSION)]);
    assert.deepEqual(argv.slice(argv.indexOf("--stop-timeout-ms"), argv.indexOf("--stop-timeout-ms") + 2), ["--stop-timeout-ms", String(STOP_COMMAND_TIMEOUT_MS)]);
    assert.deepEqual(argv.slice(argv.indexOf("--force-wait-ms"), argv.indexOf("--force-wait-ms") + 2), ["--force-wait-ms", String(STOP_FORCE_WAIT_MS)]);
    const result = run(argv);
    assert.equal(result.stderr, "");
    assert.equal(result.status, 1);
    assert.equal(result.output[3], "failed: the machine ended while the owner handed over\n");
    const exit = JSON.parse(readFileSync(given.exitPath, "utf8")) as { reason: string };
    assert.equal(exit.reason, "machine ended on its own: fake-machine ended");
    assert.ok(!existsSync(given.ownerPath) && !existsSync(given.liveMarker), "owner.json and the live marker are removed");
    assert.ok(existsSync(given.changedMarker), "the catalog index is told exit.json changed");
    const log = readFileSync(given.logPath, "utf8");
    assert.match(log, /owner: owner now runs as a small native monitor/);
    assert.match(log, /console: logged after\n/);
    assert.doesNotMatch(log, /logged before/);
  });

  test("it has no defaults for the stop timings: without them it refuses", () => {
    for (const flag of ["--stop-timeout-ms", "--force-wait-ms"]) {
      const given = invocation(flag.slice(2));
      const argv = monitorArgv(given);
      argv.splice(argv.indexOf(flag), 2);
      const result = run(argv);
      assert.equal(result.status, 2, `without ${flag}: ${result.stderr}`);
      assert.match(result.stderr, /missing a required option/);
      assert.ok(!existsSync(given.logPath) && existsSync(given.ownerPath), "nothing was touched");
    }
  });

  test("given another API version it refuses at once, with its own exit code, touching nothing", () => {
    const given = invocation("version");
    const argv = monitorArgv(given);
    argv[argv.indexOf("--api-version") + 1] = String(MONITOR_API_VERSION + 1);
    const result = run(argv);
    assert.equal(result.status, MONITOR_WRONG_VERSION_EXIT_CODE, result.stderr);
    assert.match(result.stderr, new RegExp(`given API version ${MONITOR_API_VERSION + 1}, but this monitor speaks ${MONITOR_API_VERSION}`));
    assert.equal(result.output[3], "", "the readiness pipe is not answered");
    assert.ok(!existsSync(given.logPath) && existsSync(given.ownerPath) && existsSync(given.liveMarker), "nothing was touched");
  });
});
