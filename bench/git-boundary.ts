// The git boundary's cost (issue 18): on a 10,000-file worktree, `git status` and a commit inside
// a bubblewrap sandbox (whose git works on its own store, the host's objects as alternates)
// against the same on the host; how long a commit made inside takes to be on the host's branch;
// and `wt --detach` to ready against heyvm before this change (HEYVM_OLD=<its bin/heyvm>, e.g. a
// checkout of main built in a scratch folder; left out: that row is skipped).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { guardedRun } from "../src/backends/nameguard.js";
import { makeBigRepo, median, removeSandboxes, row, sh, timeInterleaved } from "./lib.js";

const HEYVM = fileURLToPath(new URL("../../bin/heyvm", import.meta.url));
const OLD = process.env.HEYVM_OLD;
const RUNS = Number(process.env.BENCH_RUNS ?? 11);
const FILES = 10_000;

/** argv that runs a shell command in the sandbox's namespaces, as `heyvm exec` does minus the CLI. */
function insideArgv(home: string, id: string, command: string): string[] {
  const owner = JSON.parse(readFileSync(join(home, "sandboxes", id, "owner.json"), "utf8")) as { machine: { initPid: number; outerPid: number } };
  const inner = ["nsenter", "--target", String(owner.machine.initPid), "--user", "--mount", "--pid", "--uts", "--ipc", "--net", "--preserve-credentials", "--", "/bin/sh", "-c", `export HOME=/home/heyo; cd /workspace && ${command}`];
  // under the name guard, as exec and sh run (../src/backends/nameguard.ts)
  return ["nsenter", `--user=/proc/${owner.machine.outerPid}/ns/user`, "--", ...guardedRun("/workspace", inner)];
}

function readRef(repo: string, branch: string): string {
  try {
    return readFileSync(join(repo, ".git", "refs", "heads", branch), "utf8").trim();
  } catch {
    return "";
  }
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "heyvm-bench-git-"));
  const home = join(root, "heyo");
  const env = { ...process.env, HEYO_HOME: home, GIT_AUTHOR_NAME: "b", GIT_AUTHOR_EMAIL: "b@b", GIT_COMMITTER_NAME: "b", GIT_COMMITTER_EMAIL: "b@b" };
  const repo = join(root, "repo");
  try {
    makeBigRepo(repo, FILES, env);
    console.log(`heyvm git boundary benchmark (${FILES} files, ${RUNS} runs each, medians)\n`);
    const id = sh(`${HEYVM} wt bench/git --detach -q --backend bubblewrap --no-network`, repo, env);
    const worktree = join(root, "bench-git");
    sh("git worktree add -q ../host-wt -b bench/host", repo, env);
    const hostWorktree = join(root, "host-wt");
    const inside = (command: string) => insideArgv(home, id, command);

    const status = timeInterleaved(
      {
        host: ["sh", "-c", `cd ${worktree} && git status --porcelain >/dev/null`],
        inside: inside("git status --porcelain >/dev/null"),
        enter: inside("true"),
      },
      RUNS,
      env,
    );
    const statusHost = median(status.host ?? []);
    const statusInside = median(status.inside ?? []);
    console.log(row("git status, host", `${statusHost.toFixed(1)} ms`));
    const enter = median(status.enter ?? []);
    console.log(row("entering the sandbox (nsenter, sh: true)", `${enter.toFixed(1)} ms`));
    console.log(row("git status, inside", `${statusInside.toFixed(1)} ms`, `${(statusInside / statusHost).toFixed(2)}× host (target ≤ 1.3×)`));
    console.log(row("git status, inside minus entering", `${(statusInside - enter).toFixed(1)} ms`, `${((statusInside - enter) / statusHost).toFixed(2)}× host`));

    const commit = timeInterleaved(
      {
        host: ["sh", "-c", `cd ${hostWorktree} && echo x >> d0/f0.txt && git commit -qam host`],
        inside: inside("echo x >> d0/f1.txt && git commit -qam inside"),
      },
      RUNS,
      env,
    );
    const commitHost = median(commit.host ?? []);
    const commitInside = median(commit.inside ?? []);
    console.log(row("git commit, host", `${commitHost.toFixed(1)} ms`));
    console.log(row("git commit, inside", `${commitInside.toFixed(1)} ms`, `${(commitInside / commitHost).toFixed(2)}× host (target ≤ 1.3×)`));

    // a commit inside until it is the host's branch (the owner's inotify watch runs the sync)
    const latencies: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1500)); // the previous sync (and the one its own move triggers) is over
      const [file, ...args] = inside(`echo ${i} >> d1/f0.txt && git commit -qam latency-${i} && git rev-parse HEAD`);
      const made = spawnSync(file ?? "nsenter", args, { env, encoding: "utf8" });
      const start = performance.now();
      const tip = made.stdout.trim();
      if (made.status !== 0 || !tip) throw new Error(`commit inside failed: ${made.stderr}`);
      while (readRef(repo, "bench/git") !== tip) {
        if (performance.now() - start > 30_000) throw new Error("the commit did not reach the host's branch in 30 s");
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      latencies.push(performance.now() - start);
    }
    console.log(row("commit inside → on the host's branch", `${median(latencies).toFixed(0)} ms`, "(target ≤ 1000 ms)"));
    sh(`${HEYVM} stop ${id}`, repo, env);

    // wt --detach → ready, this heyvm against the one before (each on a fresh branch of the same repository)
    const wtTimes: Record<string, number[]> = { new: [], old: [] };
    const builds: [string, string][] = [["new", HEYVM], ...(OLD && existsSync(OLD) ? [["old", OLD] as [string, string]] : [])];
    for (let i = 0; i < Math.min(RUNS, 7); i++) {
      for (const [name, bin] of builds) {
        const start = performance.now();
        const started = sh(`${bin} wt bench/wt-${name}-${i} --detach -q --backend bubblewrap --no-network`, repo, env);
        wtTimes[name]?.push(performance.now() - start);
        sh(`${bin} stop ${started}`, repo, env);
      }
    }
    const wtNew = median(wtTimes.new ?? []);
    if (builds.length > 1) {
      const wtOld = median(wtTimes.old ?? []);
      console.log(row("wt --detach → ready, before", `${wtOld.toFixed(0)} ms`));
      console.log(row("wt --detach → ready, now", `${wtNew.toFixed(0)} ms`, `${(wtNew / wtOld).toFixed(2)}× before (target ≤ 1.2×)`));
    } else {
      console.log(row("wt --detach → ready, now", `${wtNew.toFixed(0)} ms`, "(set HEYVM_OLD to compare with a build from before)"));
    }
  } finally {
    removeSandboxes(HEYVM, home, env);
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
