// Which path should answer `heyvm exec`: the native launcher, the Node fast path (cli/fast-path.ts,
// bin/heyvm's CommonJS bundle with its code cache) or the full CLI (commander, dist/bundle/heyvm.js)?
// Times, interleaved in one run on one bubblewrap sandbox (medians):
// - `exec <id> -- true`: the launcher answers it; HEYVM_FAST=0 is Node's fast path; the full CLI is
//   what Node would cost without the fast path;
// - `exec <id> --format json -- true`: an option the launcher hands to Node (so do --timeout and
//   --session), where the fast path or the full CLI answers after the launcher.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { median, row, timeInterleaved, type TimedCommand } from "./lib.js";

const HEYVM = process.env.BENCH_HEYVM ?? fileURLToPath(new URL("../../bin/heyvm", import.meta.url));
const FULL_CLI = join(HEYVM, "..", "..", "dist", "bench", "full-cli.js");
const RUNS = Number(process.env.BENCH_RUNS ?? 21);

function sh(cmd: string, cwd: string, env: NodeJS.ProcessEnv): string {
  const result = spawnSync("sh", ["-c", cmd], { cwd, env, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${cmd}: ${result.stderr}`);
  return result.stdout.trim();
}

/** node running the full CLI's main on args, as bin/heyvm does when the fast path declines. */
function fullCli(args: string[]): string[] {
  return ["node", FULL_CLI, ...args];
}

function ratio(a: number, b: number): string {
  return `${(a / b).toFixed(2)}×`;
}

function main(): void {
  const root = mkdtempSync(join(tmpdir(), "heyvm-bench-exec-paths-"));
  const home = join(root, "heyo");
  const env = { ...process.env, HEYO_HOME: home };
  const node = { ...env, HEYVM_FAST: "0" };
  const repo = join(root, "repo");
  let id = "";
  try {
    mkdirSync(repo);
    sh("git init -q && git -c user.email=b@b -c user.name=b commit -q --allow-empty -m init", repo, env);
    id = sh(`${HEYVM} wt bench/paths --backend bubblewrap --network none --detach -q`, repo, env);
    const plain = ["exec", id, "--", "true"];
    const json = ["exec", id, "--format", "json", "--", "true"];
    const commands: Record<string, TimedCommand> = {
      launcher: [HEYVM, ...plain],
      fast: { argv: [HEYVM, ...plain], env: node },
      full: { argv: fullCli(plain), env: node },
      jsonFast: { argv: [HEYVM, ...json], env: node },
      jsonFull: { argv: fullCli(json), env: node },
      nodeBaseline: ["node", "-e", "0"],
    };
    const times = timeInterleaved(commands, RUNS, env);
    const [launcher, fast, full, jsonFast, jsonFull, baseline] = ["launcher", "fast", "full", "jsonFast", "jsonFull", "nodeBaseline"].map((name) => median(times[name] ?? []));
    console.log(`heyvm exec through each path (bubblewrap, ${RUNS} interleaved runs, medians)\n`);
    console.log(row("node -e 0", `${baseline.toFixed(1)} ms`));
    console.log(row("exec <id> -- true: native launcher", `${launcher.toFixed(1)} ms`));
    console.log(row("exec <id> -- true: Node fast path (HEYVM_FAST=0)", `${fast.toFixed(1)} ms`, `${ratio(fast, launcher)} the launcher`));
    console.log(row("exec <id> -- true: full CLI (commander)", `${full.toFixed(1)} ms`, `${ratio(full, fast)} the fast path`));
    console.log(row("exec <id> --format json -- true: fast path", `${jsonFast.toFixed(1)} ms`));
    console.log(row("exec <id> --format json -- true: full CLI", `${jsonFull.toFixed(1)} ms`, `${ratio(jsonFull, jsonFast)} the fast path`));
  } finally {
    if (id) spawnSync(HEYVM, ["stop", id], { env, stdio: "ignore" });
    rmSync(root, { recursive: true, force: true });
  }
}

main();
