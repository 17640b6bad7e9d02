// What `heyvm fork` costs (issue 21), each against its baseline in the same run, medians:
// - a bubblewrap worktree sandbox (10,000 files, 20 changed and 10 untracked) forked with
//   --no-start, against `git worktree add` + `cp` of the changed and untracked files (target ≤ 1.5×);
// - a libvirt sandbox whose disk holds 1 GiB written by the guest, forked (stopped, --no-start),
//   against a full `cp` of that disk (target ≤ 0.1×). Needs root and libvirt; a built default
//   image may be lent with BENCH_LIBVIRT_IMAGE=<images/libvirt/default folder> (else it is built).
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeBigRepo, median, removeSandboxes, row, sh } from "./lib.js";

const HEYVM = fileURLToPath(new URL("../../bin/heyvm", import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const FILES = 10_000;

function timed(cmd: string, cwd: string, env: NodeJS.ProcessEnv): number {
  const start = performance.now();
  sh(cmd, cwd, env);
  return performance.now() - start;
}

function ratioNote(value: number, base: number, target: string): string {
  return `${(value / base).toFixed(2)}× baseline (target ${target})`;
}

async function benchBubblewrap(root: string, env: NodeJS.ProcessEnv): Promise<void> {
  const repo = join(root, "repo");
  makeBigRepo(repo, FILES, env);
  const id = sh(`${HEYVM} wt bench/src --detach -q --backend bubblewrap --no-network`, repo, env);
  const changed = Array.from({ length: 20 }, (_, i) => `d${i}/f1.txt`);
  const untracked = Array.from({ length: 10 }, (_, i) => `d${i}/new${i}.txt`);
  sh(`${HEYVM} exec ${id} -- sh -c 'cd /workspace && for f in ${changed.join(" ")}; do echo changed >> $f; done && for f in ${untracked.join(" ")}; do echo new > $f; done'`, repo, env);
  const source = join(root, "bench-src");
  const tip = sh("git rev-parse bench/src", repo, env);
  const times: Record<string, number[]> = { fork: [], baseline: [] };
  for (let i = 0; i <= RUNS; i++) {
    const fork = timed(`${HEYVM} fork ${id} --no-start -q --branch bench/fork-${i}`, repo, env);
    const baseline = timed(`git worktree add -q -b bench/copy-${i} ../copy-${i} ${tip} && cd ${source} && cp --parents -r ${[...changed, ...untracked].join(" ")} ../copy-${i}/`, repo, env);
    if (i === 0) continue; // warm-up round
    times.fork?.push(fork);
    times.baseline?.push(baseline);
  }
  const fork = median(times.fork ?? []);
  const baseline = median(times.baseline ?? []);
  console.log(row("bubblewrap: git worktree add + cp changed", `${baseline.toFixed(0)} ms`, `(${FILES} files, ${changed.length} changed, ${untracked.length} untracked)`));
  console.log(row("bubblewrap: heyvm fork --no-start", `${fork.toFixed(0)} ms`, ratioNote(fork, baseline, "≤ 1.5×")));
  sh(`${HEYVM} stop ${id}`, repo, env);
}

function libvirtMissing(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root";
  if (spawnSync("virsh", ["-c", "qemu:///system", "uri"], { encoding: "utf8", timeout: 60_000 }).status !== 0) return "libvirtd is not reachable";
  return undefined;
}

async function benchLibvirt(root: string, env: NodeJS.ProcessEnv): Promise<void> {
  const missing = libvirtMissing();
  if (missing) {
    console.log(row("libvirt: skipped", "-", missing));
    return;
  }
  const home = env.HEYO_HOME ?? "";
  const lent = process.env.BENCH_LIBVIRT_IMAGE;
  if (lent && existsSync(join(lent, "image.json"))) cpSync(lent, join(home, "images", "libvirt", "default"), { recursive: true });
  const repo = join(root, "vmrepo");
  mkdirSync(repo);
  sh("git init -q -b main && echo x > README.md && git add . && git -c user.email=b@b -c user.name=b commit -qm init", repo, env);
  const id = sh(`${HEYVM} wt bench/vm --detach -q --backend libvirt --no-network`, repo, env);
  // 1 GiB written by the guest onto its disk (not zeros: QEMU may not store those)
  sh(`${HEYVM} exec ${id} -- sh -c 'head -c 1048576 /dev/urandom > /tmp/mib && for i in $(seq 1024); do cat /tmp/mib; done > $HOME/gib && sync'`, repo, env);
  sh(`${HEYVM} stop ${id}`, repo, env);
  const disk = join(home, "sandboxes", id, "disk.qcow2");
  const allocated = statSync(disk).blocks * 512;
  const copies: number[] = [];
  for (let i = 0; i <= Math.min(RUNS, 5); i++) {
    const ms = timed(`cp ${disk} ${join(root, "copy.qcow2")} && sync -f ${join(root, "copy.qcow2")}`, repo, env);
    rmSync(join(root, "copy.qcow2"));
    if (i > 0) copies.push(ms);
  }
  const forks: number[] = [];
  for (let i = 0; i <= Math.min(RUNS, 5); i++) {
    const ms = timed(`${HEYVM} fork ${id} --no-start -q --branch bench/vm-fork-${i}`, repo, env);
    if (i > 0) forks.push(ms);
  }
  const copy = median(copies);
  const fork = median(forks);
  console.log(row("libvirt: cp of the disk", `${copy.toFixed(0)} ms`, `(${(allocated / 1024 ** 3).toFixed(2)} GiB allocated)`));
  console.log(row("libvirt: heyvm fork --no-start", `${fork.toFixed(0)} ms`, ratioNote(fork, copy, "≤ 0.1×")));
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "heyvm-bench-fork-"));
  const home = join(root, "heyo");
  const env = { ...process.env, HEYO_HOME: home, GIT_AUTHOR_NAME: "b", GIT_AUTHOR_EMAIL: "b@b", GIT_COMMITTER_NAME: "b", GIT_COMMITTER_EMAIL: "b@b" };
  try {
    console.log(`heyvm fork benchmark (${RUNS} runs each after a warm-up, medians)\n`);
    if (!process.argv.includes("--libvirt-only")) await benchBubblewrap(root, env);
    if (!process.argv.includes("--bubblewrap-only")) await benchLibvirt(root, env);
  } finally {
    removeSandboxes(HEYVM, home, env);
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
