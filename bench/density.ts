// Density (issue 20): what idle bubblewrap sandboxes with their network cost the host, and how
// fast many start at once, against Docker in the same run.
// - 40 (BENCH_SANDBOXES) concurrent `heyvm create` (network on: pasta) against 40 concurrent
//   `docker run -d --network none … sleep` (the engine here has no bridge): wall time of all;
// - host memory: the rise of used memory (MemTotal − MemAvailable, after a settle) for each
//   set, and the proportional share (PSS) of each part of a sandbox: owner (the native
//   monitor), pasta, bwrap and what runs in the sandbox. The machine is shared, so the rise is
//   noisy; the PSS sums are each sandbox's own;
// - `heyvm list` and `heyvm exec <id> -- true` with 1 and with 100 (BENCH_MANY) sandboxes
//   running (the ones past the 40 without network), interleaved medians of BENCH_RUNS (7).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { dockerEngine } from "./docker.js";
import { median, row, timeInterleaved } from "./lib.js";

const HEYVM = fileURLToPath(new URL("../../bin/heyvm", import.meta.url));
const COUNT = Number(process.env.BENCH_SANDBOXES ?? 40);
const MANY = Number(process.env.BENCH_MANY ?? 100);
const RUNS = Number(process.env.BENCH_RUNS ?? 7);

function usedMiB(): number {
  const info = readFileSync("/proc/meminfo", "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(info)?.[1] ?? 0);
  return (field("MemTotal") - field("MemAvailable")) / 1024;
}

async function settledUsedMiB(): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 3000));
  return usedMiB();
}

/** Runs `count` copies of a command at once; the wall time until all ended, and their last stdout lines. */
async function concurrently(count: number, argv: (i: number) => string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; outs: string[] }> {
  const start = process.hrtime.bigint();
  const outs = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      new Promise<string>((resolve, reject) => {
        const [file = "", ...args] = argv(i);
        const child = spawn(file, args, { env, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        let err = "";
        child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
        child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
        child.on("close", (code) => (code === 0 ? resolve(out.trim().split("\n").pop() ?? "") : reject(new Error(`${argv(i).join(" ")} failed (${code}): ${err}`))));
      }),
    ),
  );
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, outs };
}

function pssMiB(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function descendants(pid: number): number[] {
  return childrenOf(pid).flatMap((child) => [child, ...descendants(child)]);
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** Each part's PSS summed over the running sandboxes of a home: owner, pasta, the rest (bwrap and the sandbox). */
function partsMiB(home: string): { owner: number[]; pasta: number[]; rest: number[] } {
  const parts = { owner: [] as number[], pasta: [] as number[], rest: [] as number[] };
  for (const id of readdirSync(join(home, "sandboxes"))) {
    let owner: number;
    try {
      owner = (JSON.parse(readFileSync(join(home, "sandboxes", id, "owner.json"), "utf8")) as { pid: number }).pid;
    } catch {
      continue;
    }
    parts.owner.push(pssMiB(owner));
    const below = descendants(owner);
    parts.pasta.push(below.filter((pid) => comm(pid).startsWith("pasta") || comm(pid).startsWith("passt")).reduce((sum, pid) => sum + pssMiB(pid), 0));
    parts.rest.push(below.filter((pid) => !comm(pid).startsWith("pasta") && !comm(pid).startsWith("passt")).reduce((sum, pid) => sum + pssMiB(pid), 0));
  }
  return parts;
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "heyvm-bench-density-"));
  const home = join(root, "heyo");
  const env = { ...process.env, HEYO_HOME: home };
  const engine = await dockerEngine(root);
  const containers: string[] = [];
  const sandboxes: string[] = [];
  try {
    console.log(`density: ${COUNT} idle sandboxes with network, started at once; list/exec with 1 and ${MANY} running\n`);
    let dockerMs = 0;
    if ("image" in engine) {
      const before = await settledUsedMiB();
      const run = await concurrently(COUNT, (i) => ["docker", "run", "-d", "--network", "none", "--name", `heyvm-bench-density-${process.pid}-${i}`, engine.image, "sleep", "infinity"], env);
      containers.push(...run.outs);
      dockerMs = run.ms;
      const rise = (await settledUsedMiB()) - before;
      console.log(row(`${COUNT}× docker run -d --network none, at once`, `${run.ms.toFixed(0)} ms`));
      console.log(row(`  host used memory rise`, `${rise.toFixed(0)} MiB`, `${(rise / COUNT).toFixed(1)} MiB per container`));
      spawnSync("docker", ["rm", "-f", ...containers], { stdio: "ignore" });
      containers.length = 0;
    } else {
      console.log(`(docker figures skipped: ${engine.skipped})`);
    }

    const first = spawnSync(HEYVM, ["create", "-q"], { env, encoding: "utf8" }).stdout.trim();
    sandboxes.push(first);
    const one = timeInterleaved({ list: [HEYVM, "list"], exec: [HEYVM, "exec", first, "--", "true"] }, RUNS, env);

    const before = await settledUsedMiB();
    const created = await concurrently(COUNT, () => [HEYVM, "create", "-q"], env);
    sandboxes.push(...created.outs);
    const rise = (await settledUsedMiB()) - before;
    const parts = partsMiB(home);
    const perSandbox = (sum(parts.owner) + sum(parts.pasta) + sum(parts.rest)) / parts.owner.length;
    console.log(row(`${COUNT}× heyvm create (network on), at once`, `${created.ms.toFixed(0)} ms`, dockerMs ? `${(created.ms / dockerMs).toFixed(2)}× docker (target ≤ 0.5×)` : ""));
    console.log(row(`  host used memory rise`, `${rise.toFixed(0)} MiB`, `${(rise / COUNT).toFixed(1)} MiB per sandbox (target ≤ 5 MiB)`));
    console.log(row(`  PSS per sandbox, all its processes`, `${perSandbox.toFixed(1)} MiB`, `of ${parts.owner.length} running`));
    console.log(row(`    owner (native monitor)`, `${median(parts.owner).toFixed(2)} MiB`, "median (target ≤ 2 MiB)"));
    console.log(row(`    pasta (its network)`, `${median(parts.pasta).toFixed(2)} MiB`, "median"));
    console.log(row(`    bwrap and the sandbox's processes`, `${median(parts.rest).toFixed(2)} MiB`, "median"));

    const more = await concurrently(Math.max(0, MANY - sandboxes.length), () => [HEYVM, "create", "-q", "--no-network"], env);
    sandboxes.push(...more.outs);
    const many = timeInterleaved({ list: [HEYVM, "list"], exec: [HEYVM, "exec", first, "--", "true"] }, RUNS, env);
    const [list1, exec1, listN, execN] = [one.list, one.exec, many.list, many.exec].map((times) => median(times ?? []));
    console.log(row("heyvm list, 1 running", `${list1.toFixed(1)} ms`));
    console.log(row(`heyvm list, ${sandboxes.length} running`, `${listN.toFixed(1)} ms`, `${(listN / list1).toFixed(2)}× with 1`));
    console.log(row("heyvm exec <id> -- true, 1 running", `${exec1.toFixed(1)} ms`));
    console.log(row(`heyvm exec <id> -- true, ${sandboxes.length} running`, `${execN.toFixed(1)} ms`, `${(execN / exec1).toFixed(2)}× with 1`));
  } finally {
    if (containers.length > 0) spawnSync("docker", ["rm", "-f", ...containers], { stdio: "ignore" });
    for (let i = 0; i < sandboxes.length; i += 10) {
      await concurrently(Math.min(10, sandboxes.length - i), (j) => [HEYVM, "stop", sandboxes[i + j] ?? ""], env).catch((error: unknown) => console.error(String(error)));
    }
    if ("done" in engine) await engine.done();
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
