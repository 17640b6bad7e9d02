// The native launcher's figures (issue 13), side by side in one run, medians of interleaved runs:
// - `heyvm exec <id> -- true` on bubblewrap against `docker exec <c> true` (a container this
//   script starts, and removes) and against the bare nsenter heyvm's recipe runs;
// - `heyvm list` (running sandboxes, 1,000 records on disk) and `heyvm --version` against
//   `node -e 0` and `docker ps`;
// - `heyvm exec` on libvirt against a bare ssh over the sandbox's shared connection, when a VM
//   can run here (BENCH_VM=0 skips it; the image is kept in BENCH_VM_HOME between runs).
// The Node path (HEYVM_FAST=0) is timed alongside for reference. Docker: an engine that is not
// running is installed (docker.io) and started here without networking, and stopped again; the
// base image is made with mmdebstrap (nothing can be pulled) and removed if this script made it.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expandExecRecipe, type ExecRecipe } from "../src/backends/exec-recipe.js";
import { dockerEngine } from "./docker.js";
import { fakeRecords, median, row, timeInterleaved, type TimedCommand } from "./lib.js";

const HEYVM = fileURLToPath(new URL("../../bin/heyvm", import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 21);
const VM_HOME = process.env.BENCH_VM_HOME ?? "/tmp/heyvm-bench-exec/vm/heyo";

function sh(cmd: string, cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  const result = spawnSync("sh", ["-c", cmd], { cwd, env, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${cmd}: ${result.stderr}`);
  return result.stdout.trim();
}

/** A Docker engine and a running container to exec into; `done` undoes what this made. */
async function dockerContainer(root: string): Promise<{ name: string; done(): Promise<void> } | { skipped: string }> {
  const engine = await dockerEngine(root);
  if ("skipped" in engine) return engine;
  const name = `heyvm-bench-exec-${process.pid}`;
  const done = async () => {
    spawnSync("docker", ["rm", "-f", name], { stdio: "ignore" });
    await engine.done();
  };
  try {
    sh(`docker run -d --network none --name ${name} ${engine.image} sleep infinity`, root);
    return { name, done };
  } catch (error) {
    await done();
    return { skipped: `docker: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/** The exec recipe the owner wrote, expanded for argv: the bare command under heyvm's exec. */
function bareCommand(home: string, id: string, argv: string[]): string[] {
  const record = JSON.parse(readFileSync(join(home, "sandboxes", id, "launch.json"), "utf8")) as { exec: { recipe: ExecRecipe } };
  const command = expandExecRecipe(record.exec.recipe, argv, {});
  return [command.file, ...command.args];
}

function ratio(a: number, b: number): string {
  return `${(a / b).toFixed(2)}×`;
}

function vmFigures(): void {
  if (process.env.BENCH_VM === "0") return console.log("\n(libvirt figures skipped: BENCH_VM=0)");
  const env = { ...process.env, HEYO_HOME: VM_HOME };
  const repo = join(VM_HOME, "..", "repo");
  mkdirSync(repo, { recursive: true });
  sh("git rev-parse --git-dir >/dev/null 2>&1 || (git init -q && git -c user.email=b@b -c user.name=b commit -q --allow-empty -m init)", repo);
  const started = spawnSync(HEYVM, ["wt", "bench/vm", "--backend", "libvirt", "--detach", "-q"], { cwd: repo, env, encoding: "utf8", timeout: 1_800_000 });
  if (started.status !== 0) return console.log(`\n(libvirt figures skipped: ${started.stderr.trim().split("\n").slice(-2).join(" ")})`);
  const id = started.stdout.trim();
  try {
    const bareSsh = bareCommand(VM_HOME, id, ["true"]);
    bareSsh[bareSsh.length - 1] = "true"; // the recipe's ssh, its remote command just `true`: no cd, no exit status relay
    const times = timeInterleaved({ heyvm: [HEYVM, "exec", id, "--", "true"], node: { argv: [HEYVM, "exec", id, "--", "true"], env: { ...env, HEYVM_FAST: "0" } }, ssh: bareSsh }, RUNS, env);
    const [exec, node, ssh] = [median(times.heyvm ?? []), median(times.node ?? []), median(times.ssh ?? [])];
    console.log(`\nlibvirt (${RUNS} interleaved runs, medians)`);
    console.log(row("bare ssh … true over the shared connection", `${ssh.toFixed(1)} ms`));
    console.log(row("heyvm exec <id> -- true (libvirt)", `${exec.toFixed(1)} ms`, `${ratio(exec, ssh)} bare ssh (target ≤ 1.2×)`));
    console.log(row("  the Node path (HEYVM_FAST=0)", `${node.toFixed(1)} ms`, `${ratio(node, ssh)} bare ssh`));
  } finally {
    spawnSync(HEYVM, ["stop", id], { env, stdio: "ignore" });
  }
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "heyvm-bench-exec-"));
  const home = join(root, "heyo");
  const env = { ...process.env, HEYO_HOME: home };
  const nodeEnv = { ...env, HEYVM_FAST: "0" };
  const repo = join(root, "repo");
  let id = "";
  const docker = await dockerContainer(root);
  try {
    mkdirSync(repo);
    sh("git init -q && git -c user.email=b@b -c user.name=b commit -q --allow-empty -m init", repo, env);
    id = sh(`${HEYVM} wt bench/exec --backend bubblewrap --detach -q`, repo, env);
    console.log(`heyvm exec, list and --version with the native launcher (${RUNS} interleaved runs each, medians)\n`);
    if ("skipped" in docker) console.log(`(docker figures skipped: ${docker.skipped})\n`);
    const dockerExec: Record<string, TimedCommand> = "name" in docker ? { docker: ["docker", "exec", docker.name, "true"] } : {};
    const execTimes = timeInterleaved({ heyvm: [HEYVM, "exec", id, "--", "true"], node: { argv: [HEYVM, "exec", id, "--", "true"], env: nodeEnv }, nsenter: bareCommand(home, id, ["true"]), ...dockerExec }, RUNS, env);
    const [exec, execNode, nsenter, dockerMs] = ["heyvm", "node", "nsenter", "docker"].map((name) => median(execTimes[name] ?? []));

    fakeRecords(home, 1000);
    const dockerPs: Record<string, TimedCommand> = "name" in docker ? { dockerPs: ["docker", "ps"] } : {};
    const listTimes = timeInterleaved(
      { list: [HEYVM, "list"], listJson: [HEYVM, "list", "--json"], version: [HEYVM, "--version"], listNode: { argv: [HEYVM, "list"], env: nodeEnv }, baseline: ["node", "-e", "0"], ...dockerPs },
      RUNS,
      env,
    );
    const [list, listJson, version, listNode, baseline, ps] = ["list", "listJson", "version", "listNode", "baseline", "dockerPs"].map((name) => median(listTimes[name] ?? []));

    console.log(row("bare nsenter … true (heyvm's recipe)", `${nsenter.toFixed(1)} ms`));
    if (dockerMs) console.log(row("docker exec <c> true", `${dockerMs.toFixed(1)} ms`));
    console.log(row("heyvm exec <id> -- true (bubblewrap)", `${exec.toFixed(1)} ms`, `${dockerMs ? `${ratio(exec, dockerMs)} docker exec (target ≤ 0.25×), ` : ""}${ratio(exec, nsenter)} bare nsenter (target ≤ 3×)`));
    console.log(row("  the Node path (HEYVM_FAST=0)", `${execNode.toFixed(1)} ms`, `${dockerMs ? `${ratio(execNode, dockerMs)} docker exec, ` : ""}${ratio(execNode, nsenter)} bare nsenter`));
    console.log("");
    console.log(row("node -e 0", `${baseline.toFixed(1)} ms`));
    if (ps) console.log(row("docker ps", `${ps.toFixed(1)} ms`));
    const against = (ms: number) => `${ratio(ms, baseline)} node -e 0${ps ? `, ${ratio(ms, ps)} docker ps` : ""} (target < 1× both)`;
    console.log(row("heyvm list (1 running, 1,000 records)", `${list.toFixed(1)} ms`, against(list)));
    console.log(row("heyvm list --json (1 running, 1,000 records)", `${listJson.toFixed(1)} ms`, against(listJson)));
    console.log(row("heyvm --version", `${version.toFixed(1)} ms`, against(version)));
    console.log(row("  heyvm list, the Node path (HEYVM_FAST=0)", `${listNode.toFixed(1)} ms`, `${ratio(listNode, baseline)} node -e 0`));
  } finally {
    if (id) spawnSync(HEYVM, ["stop", id], { env, stdio: "ignore" });
    if ("done" in docker) await docker.done();
    rmSync(root, { recursive: true, force: true });
  }
  vmFigures();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
