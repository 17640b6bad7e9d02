// Core figures (issue 2): CLI start-up of exec/list/--version against `node -e 0`, wt --detach
// from call to ready on bubblewrap, and the memory of idle owner processes.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fakeRecords, median, row, timeInterleaved } from "./lib.js";

const HEYVM = fileURLToPath(new URL("../../bin/heyvm", import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 21);

function sh(cmd: string, cwd: string, env: NodeJS.ProcessEnv): string {
  const result = spawnSync("sh", ["-c", cmd], { cwd, env, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${cmd}: ${result.stderr}`);
  return result.stdout.trim();
}

function memoryOf(pid: number): { rss: number; pss: number; privateDirty: number } {
  const field = (text: string, name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0) / 1024;
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  return { rss: field(rollup, "Rss"), pss: field(rollup, "Pss"), privateDirty: field(rollup, "Private_Dirty") };
}

function main(): void {
  const root = mkdtempSync(join(tmpdir(), "heyvm-bench-"));
  const home = join(root, "heyo");
  const env = { ...process.env, HEYO_HOME: home };
  const repo = join(root, "repo");
  const ids: string[] = [];
  try {
    mkdirSync(repo);
    sh("git init -q && git -c user.email=b@b -c user.name=b commit -q --allow-empty -m init", repo, env);
    console.log(`heyvm core benchmark (${RUNS} runs each, medians)\n`);

    const detachTimes: number[] = [];
    for (let i = 0; i < 7; i++) {
      const start = process.hrtime.bigint();
      ids.push(sh(`${HEYVM} wt bench/detach-${i} --detach -q`, repo, env));
      detachTimes.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    const id = ids[0] ?? "";

    const owner = JSON.parse(readFileSync(join(home, "sandboxes", id, "owner.json"), "utf8")) as { machine: { initPid: number } };
    const nsenterArgv = ["nsenter", "--target", String(owner.machine.initPid), "--user", "--mount", "--pid", "--uts", "--ipc", "--preserve-credentials", "--", "/bin/sh", "-c", "cd /workspace && exec true"];
    const small = timeInterleaved({ baseline: ["node", "-e", "0"], version: [HEYVM, "--version"], exec: [HEYVM, "exec", id, "--", "true"], execJson: [HEYVM, "exec", id, "--format", "json", "--", "true"], list: [HEYVM, "list"], nsenter: nsenterArgv }, RUNS, env);
    fakeRecords(home, 1000);
    const large = timeInterleaved({ baseline: ["node", "-e", "0"], list: [HEYVM, "list"], listAll: [HEYVM, "list", "--all"] }, RUNS, env);
    const baseline = median(small.baseline ?? []);
    const version = median(small.version ?? []);
    const exec = median(small.exec ?? []);
    const listSmall = median(small.list ?? []);
    const nsenter = median(small.nsenter ?? []);
    const baselineLarge = median(large.baseline ?? []);
    const list1000 = median(large.list ?? []);
    const listAll1000 = median(large.listAll ?? []);

    console.log(row("node -e 0 (baseline)", `${baseline.toFixed(1)} ms`));
    console.log(row("heyvm --version", `${version.toFixed(1)} ms`, `${(version / baseline).toFixed(2)}× baseline (target ≤ 1.5×)`));
    console.log(row("heyvm exec <id> -- true", `${exec.toFixed(1)} ms`, `${(exec / baseline).toFixed(2)}× baseline (target ≤ 1.5×)`));
    const execJson = median(small.execJson ?? []);
    console.log(row("heyvm exec <id> --format json -- true", `${execJson.toFixed(1)} ms`, `${(execJson / exec).toFixed(2)}× plain exec (target ≤ 1.3×)`));
    console.log(row("  of which: bare nsenter + sh -c true", `${nsenter.toFixed(1)} ms`));
    console.log(row("heyvm list (7 live sandboxes)", `${listSmall.toFixed(1)} ms`, `${(listSmall / baseline).toFixed(2)}× baseline`));
    console.log(row("node -e 0 (baseline, second series)", `${baselineLarge.toFixed(1)} ms`));
    console.log(row("heyvm list (1,000 records + 7 live)", `${list1000.toFixed(1)} ms`, `${(list1000 / baselineLarge).toFixed(2)}× baseline (target ≤ 1.5×)`));
    console.log(row("heyvm list --all (1,000 records + 7 live)", `${listAll1000.toFixed(1)} ms`, `${(listAll1000 / baselineLarge).toFixed(2)}× baseline`));
    console.log(row("heyvm wt <branch> --detach, call to ready", `${median(detachTimes).toFixed(0)} ms`, `median of ${detachTimes.length} (target < 1000 ms)`));

    const ownerPid = (sandbox: string) => (JSON.parse(readFileSync(join(home, "sandboxes", sandbox, "owner.json"), "utf8")) as { pid: number }).pid;
    const memories = ids.map(ownerPid).map(memoryOf);
    // the same owner kept as a Node process, for comparison
    const nodeOwnerId = sh(`${HEYVM} wt bench/node-owner --detach -q`, repo, { ...env, HEYVM_OWNER_MONITOR: "0" });
    ids.push(nodeOwnerId);
    const nodeOwner = memoryOf(ownerPid(nodeOwnerId));
    const rss = median(memories.map((m) => m.rss));
    console.log(row("idle owner RSS (native monitor)", `${rss.toFixed(1)} MB`, `median of ${memories.length} (target < 40 MB)`));
    console.log(row(`idle owner PSS (${memories.length + 1} owners running)`, `${median(memories.map((m) => m.pss)).toFixed(1)} MB`, "proportional share: what each owner really adds"));
    console.log(row("idle owner kept in Node (HEYVM_OWNER_MONITOR=0)", `${nodeOwner.rss.toFixed(1)} MB`, `RSS; PSS ${nodeOwner.pss.toFixed(1)} MB; the monitor uses ${(rss / nodeOwner.rss).toFixed(3)}× of it`));
  } finally {
    for (const id of ids) spawnSync(HEYVM, ["stop", id], { env });
    rmSync(root, { recursive: true, force: true });
  }
}

main();
