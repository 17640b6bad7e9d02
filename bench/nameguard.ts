// The name guard's cost (native/nameguard/): in a bubblewrap sandbox, the same work with the
// guard (as heyvm exec/sh run it) and without it (nsenter alone, the sandbox's other filters
// kept), and on the host: untarring 10,000 files into /workspace (an `npm install`-like burst of
// creations, every one a trip to the supervisor), removing them, and `git status` on a 10,000-file
// worktree (reads: never guarded). Medians, and the ratios in the same run.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { guardedRun } from "../src/backends/nameguard.js";
import { median, removeSandboxes, row, timeInterleaved } from "./lib.js";

const HEYVM = fileURLToPath(new URL("../../bin/heyvm", import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const FILES = 10_000;

function sh(cmd: string, cwd: string, env: NodeJS.ProcessEnv): string {
  const result = spawnSync("sh", ["-c", cmd], { cwd, env, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${cmd}: ${result.stderr}`);
  return result.stdout.trim();
}

/** argv that runs a shell command in the sandbox, with the name guard (as exec does) or without. */
function insideArgv(home: string, id: string, command: string, guarded: boolean): string[] {
  const owner = JSON.parse(readFileSync(join(home, "sandboxes", id, "owner.json"), "utf8")) as { machine: { initPid: number; outerPid: number } };
  const inner = ["nsenter", "--target", String(owner.machine.initPid), "--user", "--mount", "--pid", "--uts", "--ipc", "--net", "--preserve-credentials", "--", "/bin/sh", "-c", `export HOME=/home/heyo; cd /workspace && ${command}`];
  return ["nsenter", `--user=/proc/${owner.machine.outerPid}/ns/user`, "--", ...(guarded ? guardedRun("/workspace", inner) : inner)];
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "heyvm-bench-guard-"));
  const home = join(root, "heyo");
  const env = { ...process.env, HEYO_HOME: home, GIT_AUTHOR_NAME: "b", GIT_AUTHOR_EMAIL: "b@b", GIT_COMMITTER_NAME: "b", GIT_COMMITTER_EMAIL: "b@b" };
  const repo = join(root, "repo");
  try {
    mkdirSync(repo);
    for (let d = 0; d < FILES / 100; d++) {
      mkdirSync(join(repo, `d${d}`));
      for (let f = 0; f < 100; f++) writeFileSync(join(repo, `d${d}`, `f${f}.txt`), `file ${d}/${f}\n`);
    }
    sh("git init -q -b main && git add . && git commit -qm init", repo, env);
    console.log(`heyvm name guard benchmark (${FILES} files, ${RUNS} runs each, medians)\n`);
    const id = sh(`${HEYVM} wt bench/guard --detach -q --backend bubblewrap --no-network`, repo, env);
    const worktree = join(root, "bench-guard");
    sh(`tar -cf ${join(worktree, ".files.tar")} d*`, worktree, env);
    sh(`printf '.files.tar\\nx-*\\n' >> ${join(repo, ".git", "info", "exclude")}`, repo, env);
    const untar = (where: string) => `mkdir x-$$ && tar -xf ${where}/.files.tar -C x-$$`;
    const create = timeInterleaved(
      {
        host: ["sh", "-c", `cd ${worktree} && ${untar(worktree)}`],
        unguarded: insideArgv(home, id, untar("/workspace"), false),
        guarded: insideArgv(home, id, untar("/workspace"), true),
      },
      RUNS,
      env,
    );
    const remove = timeInterleaved(
      {
        host: ["sh", "-c", `cd ${worktree} && d=$(ls -d x-* | head -1) && rm -rf "$d"`],
        unguarded: insideArgv(home, id, `d=$(ls -d x-* | head -1) && rm -rf "$d"`, false),
        guarded: insideArgv(home, id, `d=$(ls -d x-* | head -1) && rm -rf "$d"`, true),
      },
      RUNS,
      env,
    );
    sh("rm -rf x-*", worktree, env);
    const status = timeInterleaved(
      {
        host: ["sh", "-c", `cd ${worktree} && git status --porcelain >/dev/null`],
        unguarded: insideArgv(home, id, "git status --porcelain >/dev/null", false),
        guarded: insideArgv(home, id, "git status --porcelain >/dev/null", true),
        "enter, guarded": insideArgv(home, id, "true", true),
        "enter, unguarded": insideArgv(home, id, "true", false),
      },
      RUNS,
      env,
    );
    for (const [what, times] of [[`untar ${FILES} files into /workspace`, create], [`rm -rf of ${FILES} files`, remove], ["git status", status]] as const) {
      const host = median(times.host ?? []);
      const unguarded = median(times.unguarded ?? []);
      const guarded = median(times.guarded ?? []);
      console.log(row(`${what}, host`, `${host.toFixed(1)} ms`));
      console.log(row(`${what}, inside without the guard`, `${unguarded.toFixed(1)} ms`, `${(unguarded / host).toFixed(2)}× host`));
      console.log(row(`${what}, inside with the guard`, `${guarded.toFixed(1)} ms`, `${(guarded / unguarded).toFixed(2)}× without, ${(guarded / host).toFixed(2)}× host`));
    }
    const enterGuarded = median(status["enter, guarded"] ?? []);
    const enterPlain = median(status["enter, unguarded"] ?? []);
    console.log(row("entering the sandbox (sh: true), guarded", `${enterGuarded.toFixed(1)} ms`, `${(enterGuarded / enterPlain).toFixed(2)}× without (${enterPlain.toFixed(1)} ms)`));
    sh(`${HEYVM} stop ${id}`, repo, env);
  } finally {
    removeSandboxes(HEYVM, home, env);
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
