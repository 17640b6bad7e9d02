// Start and stop speed (issue 20), bubblewrap against Docker in the same run, interleaved
// round by round so that drift in the machine's speed affects both alike; medians, ratios:
// - `wt <branch> --detach` → ready (a new worktree each round) against `docker run -d … sleep`;
//   the same `wt` again while it runs (re-run of a live one);
// - `create` → ready (no worktree), with its network and with --no-network (Docker's containers
//   here have none: the engine runs without a bridge);
// - `stop` against `docker rm -f`; `start` of a stopped one against `docker start`.
// BENCH_RUNS rounds (default 7). Docker: bench/docker.ts (an engine and an mmdebstrap image).
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { dockerEngine } from "./docker.js";
import { median, row } from "./lib.js";

const HEYVM = fileURLToPath(new URL("../../bin/heyvm", import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 7);

/** Runs a command, returns its stdout's last line and its wall time in ms; fails loudly. */
function timed(argv: string[], env: NodeJS.ProcessEnv, cwd?: string): { out: string; ms: number } {
  const start = process.hrtime.bigint();
  const result = spawnSync(argv[0] ?? "false", argv.slice(1), { env, cwd, encoding: "utf8" });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${argv.join(" ")} failed (${result.status}): ${result.stderr}`);
  return { out: result.stdout.trim().split("\n").pop() ?? "", ms };
}

type Series = Record<string, number[]>;

function add(series: Series, name: string, ms: number): void {
  (series[name] ??= []).push(ms);
}

/** One round: every figure once, heyvm and Docker alternating. */
function round(i: number, repo: string, env: NodeJS.ProcessEnv, image: string | undefined, series: Series, cleanUp: Array<() => void>): void {
  const docker = `heyvm-bench-ss-${process.pid}-${i}`;
  if (image) {
    cleanUp.push(() => spawnSync("docker", ["rm", "-f", docker], { stdio: "ignore" }));
    add(series, "dockerRun", timed(["docker", "run", "-d", "--network", "none", "--name", docker, image, "sleep", "infinity"], env).ms);
  }
  const wt = timed([HEYVM, "wt", `bench/ss-${i}`, "--detach", "-q"], env, repo);
  const id = wt.out;
  cleanUp.push(() => spawnSync(HEYVM, ["stop", id], { env, stdio: "ignore" }));
  add(series, "wt", wt.ms);
  add(series, "wtAgain", timed([HEYVM, "wt", `bench/ss-${i}`, "--detach", "-q"], env, repo).ms);
  const created = timed([HEYVM, "create", "-q"], env);
  cleanUp.push(() => spawnSync(HEYVM, ["stop", created.out], { env, stdio: "ignore" }));
  add(series, "create", created.ms);
  const bare = timed([HEYVM, "create", "-q", "--no-network"], env);
  cleanUp.push(() => spawnSync(HEYVM, ["stop", bare.out], { env, stdio: "ignore" }));
  add(series, "createNoNet", bare.ms);
  if (image) {
    spawnSync("docker", ["stop", "-t", "0", docker], { stdio: "ignore" });
    add(series, "dockerStart", timed(["docker", "start", docker], env).ms);
  }
  add(series, "stop", timed([HEYVM, "stop", id], env).ms);
  add(series, "start", timed([HEYVM, "start", id], env).ms);
  if (image) add(series, "dockerRm", timed(["docker", "rm", "-f", docker], env).ms);
  add(series, "stopAgain", timed([HEYVM, "stop", id], env).ms);
  for (const other of [created.out, bare.out]) spawnSync(HEYVM, ["stop", other], { env, stdio: "ignore" });
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "heyvm-bench-ss-"));
  const env = { ...process.env, HEYO_HOME: join(root, "heyo") };
  const repo = join(root, "repo");
  const engine = await dockerEngine(root);
  const cleanUp: Array<() => void> = [];
  const series: Series = {};
  try {
    mkdirSync(repo);
    timed(["sh", "-c", "git init -q && git -c user.email=b@b -c user.name=b commit -q --allow-empty -m init"], env, repo);
    const image = "image" in engine ? engine.image : undefined;
    console.log(`heyvm start and stop on bubblewrap against Docker (${RUNS} interleaved rounds after a warm-up, medians)\n`);
    if ("skipped" in engine) console.log(`(docker figures skipped: ${engine.skipped})\n`);
    for (let i = 0; i <= RUNS; i++) {
      round(i, repo, env, image, i === 0 ? {} : series, cleanUp);
    }
    const m = (name: string) => median(series[name] ?? []);
    const against = (ms: number, base: string, label: string, target: number) => (m(base) ? `${(ms / m(base)).toFixed(2)}× ${label} (target ≤ ${target}×)` : "");
    if (image) {
      console.log(row("docker run -d --network none … sleep", `${m("dockerRun").toFixed(0)} ms`));
      console.log(row("docker start (a stopped container)", `${m("dockerStart").toFixed(0)} ms`));
      console.log(row("docker rm -f (a running container)", `${m("dockerRm").toFixed(0)} ms`));
    }
    console.log(row("heyvm wt <new branch> --detach → ready", `${m("wt").toFixed(0)} ms`, against(m("wt"), "dockerRun", "docker run", 0.5)));
    console.log(row("heyvm wt <branch> --detach, already running", `${m("wtAgain").toFixed(0)} ms`, against(m("wtAgain"), "dockerRun", "docker run", 0.1)));
    console.log(row("heyvm create → ready", `${m("create").toFixed(0)} ms`, against(m("create"), "dockerRun", "docker run", 0.4)));
    console.log(row("heyvm create --no-network → ready", `${m("createNoNet").toFixed(0)} ms`, against(m("createNoNet"), "dockerRun", "docker run", 0.4)));
    console.log(row("heyvm stop (a running sandbox)", `${m("stop").toFixed(0)} ms`, against(m("stop"), "dockerRm", "docker rm -f", 1.0)));
    console.log(row("heyvm start (a stopped sandbox) → ready", `${m("start").toFixed(0)} ms`, against(m("start"), "dockerStart", "docker start", 0.5)));
    console.log(row("heyvm stop (after that start)", `${m("stopAgain").toFixed(0)} ms`, against(m("stopAgain"), "dockerRm", "docker rm -f", 1.0)));
  } finally {
    for (const undo of cleanUp.reverse()) undo();
    if ("done" in engine) await engine.done();
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
