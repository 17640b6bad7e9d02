// Shared helpers for the benchmark scripts: timing whole commands and printing medians.
import { spawnSync } from "node:child_process";

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Runs a command `runs` times (after one warm-up) and returns the wall times in ms. */
export function timeCommand(argv: string[], runs: number, env: NodeJS.ProcessEnv = process.env, cwd?: string): number[] {
  const [file, ...args] = argv;
  if (!file) throw new Error("empty command");
  const times: number[] = [];
  for (let i = 0; i <= runs; i++) {
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
