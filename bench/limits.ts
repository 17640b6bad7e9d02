// A fork bomb, a memory hog and a disk filler inside one bubblewrap sandbox, each for a bounded
// time, while the host's `true`, `heyvm list` and an `exec` into a second sandbox are timed: their
// medians under each attack against the same commands with both sandboxes idle, in one run.
// Needs root (the attacks are only safe where the cgroup limits are set: the script refuses to
// run them otherwise).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { cgroupHierarchies, sandboxCgroupDir, type Controller } from "../src/backends/cgroups.js";
import { median, row, timeInterleaved } from "./lib.js";

const HEYVM = fileURLToPath(new URL("../../bin/heyvm", import.meta.url));
const ROUNDS = Number(process.env.BENCH_RUNS ?? 9);
/** How long each attack runs before the timing starts (it has ramped up by then). */
const RAMP_MS = 2000;

const ATTACKS: Record<string, string> = {
  "fork bomb": "bomb() { bomb | bomb & }; bomb; sleep 3600",
  "memory hog": "while :; do python3 -c \"b=[]\nwhile True: b.append(b'x' * (64 << 20))\" 2>/dev/null; done",
  "disk filler": "while :; do dd if=/dev/zero of=$HOME/fill bs=1M 2>/dev/null; dd if=/dev/zero of=/tmp/fill bs=1M 2>/dev/null; rm -f $HOME/fill /tmp/fill; done",
};

/** The attacked sandbox's cgroup counters: evidence that the attack ran into its bounds. */
function counters(id: string): string {
  const read = (controller: Controller, file: string) => {
    const hierarchy = cgroupHierarchies().get(controller);
    try {
      return hierarchy ? readFileSync(join(sandboxCgroupDir(hierarchy, id), file), "utf8") : "";
    } catch {
      return "";
    }
  };
  const oomKills = /^oom_kill (\d+)/m.exec(read("memory", "memory.oom_control") || read("memory", "memory.events"))?.[1] ?? "?";
  return `processes ${read("pids", "pids.current").trim() || "?"}, forks refused ${/max (\d+)/.exec(read("pids", "pids.events"))?.[1] ?? "?"}, OOM kills ${oomKills}`;
}

function heyvm(env: NodeJS.ProcessEnv, cwd: string, ...args: string[]): string {
  const result = spawnSync(HEYVM, args, { env, cwd, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`heyvm ${args.join(" ")} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

function idOf(stdout: string): string {
  const id = stdout.trim();
  if (!/^sb-[0-9a-f]{8}$/.test(id)) throw new Error(`no sandbox id in ${JSON.stringify(stdout)}`);
  return id;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error("bench/limits.ts needs root: without cgroup limits these attacks would exhaust this machine");
    process.exitCode = 1;
    return;
  }
  const root = mkdtempSync(join(tmpdir(), "heyvm-bench-limits-"));
  const repo = join(root, "repo");
  const env = { ...process.env, HEYO_HOME: join(root, "heyo"), HEYVM_HOME_MIB: "256" };
  const ids: string[] = [];
  try {
    spawnSync("sh", ["-c", `git init -q ${repo} && cd ${repo} && git -c user.name=b -c user.email=b@example.com commit -q --allow-empty -m init`]);
    const attacked = idOf(heyvm(env, repo, "wt", "attacked", "-b", "--detach", "--no-network", "--pids", "256", "--memory", "512M", "--print-id"));
    ids.push(attacked);
    const other = idOf(heyvm(env, repo, "wt", "other", "-b", "--detach", "--no-network", "--print-id"));
    ids.push(other);
    const limits = (JSON.parse(heyvm(env, repo, "get", attacked, "--json")) as { limits: { not_set: string[] | null; set: string[] | null } }).limits;
    if (!limits.not_set || limits.not_set.length > 0) throw new Error(`limits not all set, refusing to attack: ${JSON.stringify(limits)}`);
    const commands = { true: ["true"], list: { argv: [HEYVM, "list"], env }, exec: { argv: [HEYVM, "exec", other, "--", "true"], env } };
    const results: Array<{ phase: string; times: Record<string, number[]>; evidence?: string }> = [];
    results.push({ phase: "idle", times: timeInterleaved(commands, ROUNDS, env) });
    for (const [phase, script] of Object.entries(ATTACKS)) {
      const attack = spawn(HEYVM, ["exec", attacked, "--", "sh", "-c", script], { env, cwd: repo, stdio: "ignore" });
      await new Promise((resolve) => setTimeout(resolve, RAMP_MS));
      results.push({ phase, times: timeInterleaved(commands, ROUNDS, env), evidence: counters(attacked) });
      if (attack.pid !== undefined && attack.exitCode === null) attack.kill("SIGKILL");
      heyvm(env, repo, "restart", attacked); // ends what the attack left running, limits set afresh
    }
    const idle = results[0]?.times ?? {};
    const base = (name: string) => median(idle[name] ?? []);
    console.log(`heyvm sandbox limits under attack (${ROUNDS} interleaved rounds per phase, medians; attacked sandbox: ${limits.set?.join(", ")})\n`);
    for (const { phase, times, evidence } of results) {
      console.log(`${phase}:${evidence ? ` (in the attacked sandbox's cgroup at the end: ${evidence})` : ""}`);
      for (const name of ["true", "list", "exec"]) {
        const ms = median(times[name] ?? []);
        const label = name === "true" ? "host `true`" : name === "list" ? "`heyvm list`" : "`heyvm exec <other sandbox> -- true`";
        console.log(row(`  ${label}`, `${ms.toFixed(1)} ms`, phase === "idle" ? "" : `${(ms / base(name)).toFixed(2)}× idle`));
      }
    }
  } finally {
    for (const id of ids) spawnSync(HEYVM, ["rm", id, "-y"], { env, cwd: repo });
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
