// Shared helpers for the benchmark scripts: timing whole commands and printing medians.
import { spawnSync } from "node:child_process";

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

/**
 * Times several commands round-robin (one of each per round, after a warm-up round), so that
 * drift in the machine's speed during the run affects every command alike; ms per command.
 */
export function timeInterleaved(commands: Record<string, string[]>, rounds: number, env: NodeJS.ProcessEnv = process.env): Record<string, number[]> {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(commands).map((name) => [name, []]));
  for (let round = 0; round <= rounds; round++) {
    for (const [name, argv] of Object.entries(commands)) {
      const ms = timeCommand(argv, 0, env, undefined, true)[0] ?? 0;
      if (round > 0) times[name]?.push(ms);
    }
  }
  return times;
}
