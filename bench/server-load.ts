// Benchmark: a fresh `heyvm server` (bubblewrap driver, 127.0.0.1) under load: 200 concurrent
// execs; the same while a gzip bomb is being refused; 30 concurrent deploys; the execs again with
// 100 idle shell WebSockets open. Prints requests/s, p50/p99, errors and the server's RSS before
// and after each phase. Every phase is bounded in count and in time (--phase-seconds).
// Then the mixed load of issue 19: 200 concurrent execs while 50 shell sessions are open, one of
// them a slow reader of a sandbox printing as fast as it can; throughput, p99 and the server's
// peak RSS and its RSS 30 s after, on this build and (with --baseline <other build's bin/heyvm>) on that one, with the ratio.
// Usage: node dist/bench/server-load.js [--execs 200] [--deploys 30] [--sockets 100] [--shells 50]
//        [--phase-seconds 180] [--mixed-only] [--baseline /path/to/old/bin/heyvm]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { spawnSync } from "node:child_process";
import type { Socket } from "node:net";
import { stdinFrame } from "../src/cloud/shell-frames.js";
import { api, createToken, deployArchive, serverRssMb, startCloudServer, stopOwners, uploadArchive, type CloudServer } from "../test/helpers/cloud-server.js";
import { makeTarGz } from "../test/helpers/cloud-tar.js";
import { HEYVM } from "../test/helpers/env.js";
import { zeroFilesBomb } from "../test/helpers/tar-bomb.js";
import { row } from "./lib.js";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const EXECS = arg("execs", 200);
const DEPLOYS = arg("deploys", 30);
const SOCKETS = arg("sockets", 100);
const PHASE_MS = arg("phase-seconds", 180) * 1000;
const SHELLS = arg("shells", 50);
const MIXED_ONLY = process.argv.includes("--mixed-only");
const BASELINE = process.argv.includes("--baseline") ? process.argv[process.argv.indexOf("--baseline") + 1] : undefined;

const ARCHIVE = makeTarGz([{ path: "workspace/", type: "dir" }, { path: "workspace/hello.txt", content: "hello\n" }]);

const rssMb = serverRssMb;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Resolves with fn's value, or rejects once the phase's time is up. */
function bounded<T>(what: string, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not finish within ${PHASE_MS / 1000} s`)), PHASE_MS)));
  return Promise.race([fn(), limit]).finally(() => clearTimeout(timer));
}

interface Burst {
  ms: number[];
  errors: number;
  wallMs: number;
}

/** `count` requests at once; each one's time, how many failed, and the wall time of all. */
async function burst(count: number, one: () => Promise<boolean>): Promise<Burst> {
  const ms: number[] = [];
  let errors = 0;
  const began = performance.now();
  await Promise.all(
    Array.from({ length: count }, async () => {
      const start = performance.now();
      const ok = await one().catch(() => false);
      ms.push(performance.now() - start);
      if (!ok) errors += 1;
    }),
  );
  return { ms, errors, wallMs: performance.now() - began };
}

function describeBurst(result: Burst): string {
  const rate = (result.ms.length / (result.wallMs / 1000)).toFixed(0);
  return `${rate} req/s  p50 ${(percentile(result.ms, 50) / 1000).toFixed(2)} s, p99 ${(percentile(result.ms, 99) / 1000).toFixed(2)} s, ${result.errors} errors`;
}

function deployOne(server: CloudServer, token: string): Promise<string> {
  return deployArchive(server, token, ARCHIVE);
}

function execOnce(server: CloudServer, token: string, id: string): Promise<boolean> {
  return api(server, token, "POST", `/sandbox/${id}/exec`, { command: "echo hi" }).then((r) => r.status === 200 && r.json.stdout === "hi\n");
}

/** The caps the mixed load needs, for a build that has them (an older one has none). */
function capArgs(heyvm: string | undefined): string[] {
  const help = spawnSync(heyvm ?? HEYVM, ["server", "--help"], { encoding: "utf8" }).stdout ?? "";
  const shells = String(Math.max(SHELLS, SOCKETS));
  return help.includes("--max-execs-per-token") ? ["--max-execs-per-token", String(EXECS), "--max-execs", String(EXECS), "--max-shells-per-token", shells, "--max-shells", shells] : [];
}

interface Mixed {
  execs: Burst;
  peakRss: number;
  startRss: number;
  slowReaderBytes: number;
  /** The server's RSS SETTLE_MS after the execs ended and the shells closed. */
  afterRss: number;
}

/** How long after the mixed load the server's RSS is read again. */
const SETTLE_MS = 30_000;

/**
 * EXECS concurrent execs while SHELLS shell sessions are open: SHELLS-1 idle, one running `yes`
 * and read slowly (its socket read for 20 ms every 500 ms). The server's RSS is sampled every 100 ms.
 */
async function mixedLoad(heyvm: string | undefined): Promise<Mixed> {
  const root = mkdtempSync(join(tmpdir(), "heyvm-bench-mixed-"));
  const server = await startCloudServer({ dataDir: join(root, "srv"), heyvm, args: ["--max-active", "5", ...capArgs(heyvm)] });
  const sockets: WebSocket[] = [];
  const timers: NodeJS.Timeout[] = [];
  let token = "";
  let target = "";
  try {
    token = createToken(server.dataDir, "bench");
    target = await deployOne(server, token);
    const startRss = rssMb(server);
    let peakRss = startRss;
    timers.push(setInterval(() => (peakRss = Math.max(peakRss, rssMb(server))), 100));
    let slowReaderBytes = 0;
    const url = `${server.url.replace(/^http/, "ws")}/deployed-sandboxes/${target}/shell-stream`;
    await bounded("the shell sessions", () =>
      Promise.all(
        Array.from({ length: SHELLS }, (_, i) =>
          new Promise<void>((resolve, reject) => {
            const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
            sockets.push(ws);
            ws.once("open", () => ws.send(JSON.stringify({ type: "init", cols: 80, rows: 24 })));
            ws.once("message", () => {
              if (i === 0) {
                ws.on("message", (data: Buffer) => (slowReaderBytes += data.length));
                ws.send(stdinFrame(Buffer.from("yes 'a sandbox printing as fast as it can, to a client that reads slowly'\n")));
                const socket = (ws as unknown as { _socket: Socket })._socket;
                socket.pause();
                timers.push(setInterval(() => {
                  socket.resume();
                  setTimeout(() => socket.pause(), 20);
                }, 500));
              }
              resolve();
            });
            ws.once("error", reject);
          }),
        ),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the slow reader's sandbox is printing
    const execs = await bounded("the mixed execs", () => burst(EXECS, () => execOnce(server, token, target)));
    for (const timer of timers) clearInterval(timer);
    for (const ws of sockets) ws.terminate();
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS)); // the load is over: what does the server keep?
    return { execs, peakRss, startRss, slowReaderBytes, afterRss: rssMb(server) };
  } finally {
    for (const timer of timers) clearInterval(timer);
    for (const ws of sockets) ws.terminate();
    if (target) await api(server, token, "DELETE", `/deployed-sandboxes/${target}`).catch(() => undefined);
    await server.cleanup();
    await stopOwners(join(root, "srv", "h"));
    rmSync(root, { recursive: true, force: true });
  }
}

function describeMixed(which: string, result: Mixed): string {
  return row(`${which}: ${EXECS} execs + ${SHELLS} shells (1 slow reader)`, describeBurst(result.execs), `RSS ${result.startRss} → peak ${result.peakRss} MB, ${result.afterRss} MB ${SETTLE_MS / 1000} s after; slow reader got ${(result.slowReaderBytes / 1048576).toFixed(1)} MB`);
}

async function mixedPhase(): Promise<void> {
  console.log(`server-load, mixed: ${EXECS} concurrent execs while ${SHELLS} shell sessions are open (one a slow reader of \`yes\`)`);
  const current = await mixedLoad(undefined);
  console.log(describeMixed("this build", current));
  if (!BASELINE) return;
  const baseline = await mixedLoad(BASELINE);
  console.log(describeMixed(`baseline (${BASELINE})`, baseline));
  const rate = (result: Burst) => result.ms.length / (result.wallMs / 1000);
  console.log(row("exec throughput, this build / baseline", `${(rate(current.execs) / rate(baseline.execs)).toFixed(2)}×`, `peak RSS ${current.peakRss} vs ${baseline.peakRss} MB`));
}

async function main(): Promise<void> {
  if (MIXED_ONLY) return mixedPhase();
  const root = mkdtempSync(join(tmpdir(), "heyvm-bench-load-"));
  const server = await startCloudServer({ dataDir: join(root, "srv"), args: ["--max-active", String(DEPLOYS + 5), "--max-upload-mb", "64", ...capArgs(undefined)] });
  const deployed: string[] = [];
  const sockets: WebSocket[] = [];
  let token = "";
  try {
    token = createToken(server.dataDir, "bench");
    console.log(`server-load: fresh server on ${server.url}, bubblewrap; ${EXECS} execs, ${DEPLOYS} deploys, ${SOCKETS} sockets`);
    const fresh = rssMb(server);
    console.log(row("server RSS, fresh", `${fresh} MB`));
    const target = await deployOne(server, token);
    deployed.push(target);

    // 1. concurrent execs on a quiet server
    let before = rssMb(server);
    const execs = await bounded("the execs", () => burst(EXECS, () => execOnce(server, token, target)));
    console.log(row(`${EXECS} concurrent execs`, describeBurst(execs), `RSS ${before} → ${rssMb(server)} MB`));

    // 2. the same while gzip bombs (9 files of 1 GiB of zeros each, about 9.4 MB uploaded) are
    //    uploaded and refused one after another, for as long as the execs take
    before = rssMb(server);
    const bomb = zeroFilesBomb(9, 1);
    const refusals: number[] = [];
    const statuses = new Set<number>();
    let attacking = true;
    const attack = (async () => {
      while (attacking) {
        const start = performance.now();
        const { finalize } = await uploadArchive(server, token, bomb);
        refusals.push(performance.now() - start);
        statuses.add(finalize.status);
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 300)); // the first bomb is on its way
    const execsUnderBomb = await bounded("the execs during the bombs", () => burst(EXECS, () => execOnce(server, token, target)));
    const gets = await burst(50, async () => (await api(server, token, "GET", "/deployed-sandboxes")).status === 200);
    attacking = false;
    await bounded("the last bomb", () => attack);
    console.log(row(`${EXECS} concurrent execs, bombs in flight`, describeBurst(execsUnderBomb), `RSS ${before} → ${rssMb(server)} MB`));
    console.log(row("  50 GETs of the list meanwhile", describeBurst(gets)));
    console.log(row(`  bombs (${(bomb.length / 1048576).toFixed(1)} MB, 9 GiB unpacked)`, `${refusals.length} × ${[...statuses].join("/")}`, `upload + refusal p50 ${(percentile(refusals, 50) / 1000).toFixed(2)} s, p99 ${(percentile(refusals, 99) / 1000).toFixed(2)} s`));
    const rate = (result: Burst) => result.ms.length / (result.wallMs / 1000);
    console.log(row("  exec rate with bombs / without", `${(rate(execsUnderBomb) / rate(execs)).toFixed(2)}×`, "the same server, the same run"));
    // the archive checks ran in worker threads, which end after 10 s idle (server/archives/workers.ts)
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    console.log(row("  server RSS once the check workers have ended", `${rssMb(server)} MB`, `before the bombs ${before} MB`));

    // 3. concurrent deploys
    before = rssMb(server);
    const times: number[] = [];
    const deploys = await bounded("the deploys", () =>
      burst(DEPLOYS, async () => {
        const start = performance.now();
        const id = await deployOne(server, token);
        times.push(performance.now() - start);
        deployed.push(id);
        return true;
      }),
    );
    console.log(row(`${DEPLOYS} concurrent deploys (upload → running)`, `p50 ${(percentile(times, 50) / 1000).toFixed(2)} s, p99 ${(percentile(times, 99) / 1000).toFixed(2)} s, ${deploys.errors} errors`, `all in ${(deploys.wallMs / 1000).toFixed(1)} s, RSS ${before} → ${rssMb(server)} MB`));

    // 4. execs with idle shell sockets open
    before = rssMb(server);
    const url = `${server.url.replace(/^http/, "ws")}/deployed-sandboxes/${target}/shell-stream`;
    await bounded("the sockets", () =>
      Promise.all(
        Array.from({ length: SOCKETS }, () =>
          new Promise<void>((resolve, reject) => {
            const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
            sockets.push(ws);
            ws.once("open", () => {
              ws.send(JSON.stringify({ type: "init", cols: 80, rows: 24 }));
              resolve();
            });
            ws.once("error", reject);
          }),
        ),
      ),
    );
    const withSockets = await bounded("the execs with sockets open", () => burst(EXECS, () => execOnce(server, token, target)));
    console.log(row(`${EXECS} concurrent execs, ${SOCKETS} idle sockets`, describeBurst(withSockets), `RSS ${before} → ${rssMb(server)} MB`));
    for (const ws of sockets) ws.close();
    console.log(row("server RSS, at the end", `${rssMb(server)} MB`, `fresh ${fresh} MB`));
  } finally {
    for (const ws of sockets) ws.terminate();
    await Promise.all(deployed.map((id) => api(server, token, "DELETE", `/deployed-sandboxes/${id}`).catch(() => undefined)));
    await server.cleanup();
    await stopOwners(join(root, "srv", "h"));
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
if (!MIXED_ONLY) await mixedPhase();
