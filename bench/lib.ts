// Shared helpers for the benchmark scripts: timing whole commands, printing medians, and
// fabricating sandbox records to list.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Runs a command `runs` times (after one warm-up) and returns the wall times in ms. */
export function timeCommand(argv: string[], runs: number, env: NodeJS.ProcessEnv = process.env, cwd?: string, noWarmUp = false): number[] {
  const [file, ...args] = argv;
  if (!file) throw new Error("empty command");
  const times: number[] = [];
  for (let i = noWarmUp ? 1 : 0; i <= Math.max(runs, 1); i++) {
    const start = process.hrtime.bigint();
    const result = spawnSync(file, args, { env, cwd, stdio: ["ignore", "ignore", "pipe"] });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (result.status !== 0) throw new Error(`${argv.join(" ")} failed (${result.status}): ${result.stderr}`);
    if (i > 0) times.push(ms);
  }
  return times;
}

export function row(label: string, value: string, note = ""): string {
  return `${label.padEnd(44)} ${value.padStart(12)}  ${note}`;
}

/** A command to time: its argv, or its argv with an environment of its own. */
export type TimedCommand = string[] | { argv: string[]; env: NodeJS.ProcessEnv };

/**
 * Times several commands round-robin (one of each per round, after a warm-up round), so that
 * drift in the machine's speed during the run affects every command alike; ms per command.
 */
export function timeInterleaved(commands: Record<string, TimedCommand>, rounds: number, env: NodeJS.ProcessEnv = process.env): Record<string, number[]> {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(commands).map((name) => [name, []]));
  for (let round = 0; round <= rounds; round++) {
    for (const [name, command] of Object.entries(commands)) {
      const [argv, commandEnv] = Array.isArray(command) ? [command, env] : [command.argv, command.env];
      const ms = timeCommand(argv, 0, commandEnv, undefined, true)[0] ?? 0;
      if (round > 0) times[name]?.push(ms);
    }
  }
  return times;
}

/**
 * Fabricates `count` stopped sandbox records under a HEYO_HOME, shaped like the ones heyvm
 * writes, with the leftovers that make listing them expensive: live-index entries of crashed
 * owners, owner.json files of dead owners and (every `exitEvery`th, 0 = none) an exit.json.
 * Ids start at `first`, so a second call can add to a home without clashing.
 */
export function fakeRecords(home: string, count: number, options: { first?: number; exitEvery?: number } = {}): void {
  const sandboxes = join(home, "sandboxes");
  const first = options.first ?? 0;
  const exitEvery = options.exitEvery ?? 0;
  mkdirSync(join(home, "live"), { recursive: true });
  for (let i = first; i < first + count; i++) {
    const id = `sb-${(0x10000000 + i).toString(16)}`;
    mkdirSync(join(sandboxes, id), { recursive: true });
    const spec = { id, name: `wt-branch-${i}`, backend: "bubblewrap", image: null, workspace: `/tmp/nowhere/branch-${i}`, git: { commonDir: "/tmp/nowhere/.git", branch: `branch-${i}` }, mounts: [], network: true, createdAt: new Date(Date.now() - i * 1000).toISOString() };
    writeFileSync(join(sandboxes, id, "sandbox.json"), JSON.stringify(spec));
    if (i % 10 === 0) {
      // a crashed owner leaves its live-index entry behind; the first list drops it
      writeFileSync(join(home, "live", id), "");
    }
    if (i % 2 === 0) {
      // half of them have an owner.json left by a dead owner: the expensive case for liveness
      writeFileSync(join(sandboxes, id, "owner.json"), JSON.stringify({ pid: 4_000_000 - i, pidStartTime: "1", bootId: "x", startedAt: spec.createdAt, state: "running", mode: "detached", backend: "bubblewrap", guestIp: null, ssh: null, machine: {} }));
    }
    if (exitEvery > 0 && i % exitEvery === 0) {
      // an owner that ended cleanly says why; list --all shows it as the last exit
      writeFileSync(join(sandboxes, id, "exit.json"), JSON.stringify({ at: spec.createdAt, reason: "stopped by heyvm stop" }));
    }
  }
}

/** Waits (polling every 20 ms) until condition holds, or fails after ms saying what it waited for. */
export async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Runs a shell command and returns its output; throws with its stderr when it fails. */
export function sh(cmd: string, cwd: string, env: NodeJS.ProcessEnv): string {
  const result = spawnSync("sh", ["-c", cmd], { cwd, env, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${cmd}: ${result.stderr}`);
  return result.stdout.trim();
}

/** A repository of `files` small files (100 per folder), committed on main. */
export function makeBigRepo(repo: string, files: number, env: NodeJS.ProcessEnv): void {
  mkdirSync(repo);
  for (let d = 0; d < files / 100; d++) {
    mkdirSync(join(repo, `d${d}`));
    for (let f = 0; f < 100; f++) writeFileSync(join(repo, `d${d}`, `f${f}.txt`), `file ${d}/${f}\n`);
  }
  sh("git init -q -b main && git add . && git -c user.email=b@b -c user.name=b commit -qm init", repo, env);
}

/** A bench's clean-up: every sandbox of its HEYO_HOME removed with heyvm itself (stopped, its mounts, cgroup and host ids given back). */
export function removeSandboxes(heyvm: string, home: string, env: NodeJS.ProcessEnv): void {
  const folder = join(home, "sandboxes");
  if (!existsSync(folder)) return;
  for (const id of readdirSync(folder)) spawnSync(heyvm, ["rm", id, "-y"], { env, stdio: "ignore", timeout: 120_000 });
}
