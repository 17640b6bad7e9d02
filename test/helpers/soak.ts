// The concurrency soak (issue 8), shared by test/soak.test.ts (a few rounds) and bench/soak.ts
// (20 rounds): concurrent `wt --detach` over several branches of one repository, a `stop` racing
// the `wt` calls of one branch, and branches whose worktrees are removed between rounds so that
// every round also races `git worktree add` against the other calls' git commands (the calls
// start all at once in some rounds, a few ms apart in others, so that their git commands land
// at different points of one another's). After each round every branch must have exactly one
// sandbox id and exactly one live owner.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { git, isAlive, ownerPids, waitFor, type RunResult, type TestEnv } from "./env.js";

export interface SoakOptions {
  rounds: number;
  /**
   * Branches of the one repository: the first is the one a `stop` races against, the next
   * `recycled` ones get their worktree removed after each round, the rest stay as they are.
   */
  branches?: string[];
  recycled?: number;
  /** Concurrent `wt --detach` calls per branch in each round. */
  callsPerBranch?: number;
  callTimeoutMs?: number;
  /**
   * Holds git's half-added state of every `git worktree add` heyvm runs this long (0 = real
   * git only), so that a race with it shows up in a few rounds instead of once in a blue moon.
   */
  widenWorktreeAddMs?: number;
  /** Progress, one line per round. */
  log?: (line: string) => void;
}

export interface SoakError {
  /** The first line of stderr (ids and temp paths generalised), or how the call ended. */
  message: string;
  count: number;
  /** One command line that failed this way, and its round. */
  example: string;
  round: number;
}

export interface SoakReport {
  rounds: number;
  branches: string[];
  /** How long each `git worktree add` was held half-done (0: real git only). */
  widenedMs: number;
  /** Calls made, by heyvm command (wt, stop). */
  calls: Record<string, number>;
  errors: SoakError[];
  /** wt calls that ended with "stopped while starting" because the racing stop cut the start short. */
  cutShort: number;
  /** Successful wt calls that started an owner, and those that found one running. */
  started: number;
  reused: number;
  /** Racing stops that stopped a running sandbox, and those that found it stopped already. */
  stopsOfRunning: number;
  stopsOfStopped: number;
  /** Stops meant to land while the owner started that came only after the wt calls had ended. */
  stopsMissedStart: number;
  /** Every sandbox id seen for each branch (printed by wt or found in the records). */
  idsPerBranch: Record<string, string[]>;
  /** Live owner processes of each branch's sandbox at the check of each round. */
  ownersPerBranch: Record<string, number[]>;
  /** Wall time of each round's concurrent phase, and of the whole round, in ms. */
  fanOutMs: number[];
  roundMs: number[];
  /** Every broken invariant, with its round. */
  violations: string[];
  /** Every owner pid seen, for the clean-up's last resort. */
  ownerPids: number[];
}

const DEFAULT_BRANCHES = ["soak/churn", "soak/recycled-a", "soak/recycled-b", "soak/warm"];
/** Gap between the starts of successive calls of a fan-out, by round (round % 4). */
const STAGGER_MS = [0, 15, 40, 80];
const ID = /^sb-[0-9a-f]{8}$/;
/** When the racing stop of the churn branch is sent, by round (round % 3). */
const STOP_MODES = ["at once", "while starting", "after the first wt"] as const;

function cmdline(pid: number | string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return "";
  }
}

/** Every process on the machine that is the owner (Node or native monitor) of this sandbox. */
export function ownerProcesses(id: string): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      const argv = cmdline(pid).split("\0");
      return argv.includes("__sandbox_owner") && argv.includes(id) && isAlive(pid);
    });
}

function readJson(path: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** Sandbox ids whose sandbox.json names this branch. */
function recordsForBranch(home: string, branch: string): string[] {
  let ids: string[] = [];
  try {
    ids = readdirSync(join(home, "sandboxes"));
  } catch {
    return [];
  }
  return ids.filter((id) => {
    const spec = readJson(join(home, "sandboxes", id, "sandbox.json"));
    const link = spec?.git as { branch?: unknown } | undefined;
    return link?.branch === branch;
  });
}

/** The folder of the worktree that has this branch checked out. */
function worktreeOf(repo: string, branch: string): string | undefined {
  let path: string | undefined;
  for (const line of git(repo, "worktree", "list", "--porcelain").split("\n")) {
    if (line.startsWith("worktree ")) path = line.slice("worktree ".length);
    else if (line === `branch refs/heads/${branch}`) return path;
  }
  return undefined;
}

/** The id a wt printed, as a client reads it: its `ID: …` line. */
function printedId(stdout: string): string {
  return /^ID: (\S+)$/m.exec(stdout)?.[1] ?? stdout.trim();
}

/** How long the soak holds git's half-added worktree state unless told otherwise. */
export const DEFAULT_WIDEN_MS = 250;

/**
 * Puts a `git` first on the PATH of the heyvm calls (not of the soak's own git) that, before
 * `git worktree add` runs, leaves for `ms` the state git itself is in for an instant while
 * adding: an entry in .git/worktrees whose commondir is still empty. Any other git command that
 * reads the worktrees meanwhile fails as it would at that instant ("failed to read
 * .git/worktrees/…/commondir: Success"), which is what happens when heyvm runs `git worktree
 * list` outside the repository lock.
 */
export function widenWorktreeAdd(t: TestEnv, ms: number): void {
  const realGit = spawnSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).stdout.trim();
  if (!realGit) throw new Error("git is not on PATH");
  const bin = join(t.root, "soak-bin");
  mkdirSync(bin, { recursive: true });
  const script = [
    "#!/bin/sh",
    `if [ "$1" = worktree ] && [ "$2" = add ]; then`,
    `  common=$('${realGit}' rev-parse --git-common-dir) || exit 1`,
    `  entry="$common/worktrees/soak-half-added-$$"`,
    `  trap 'rm -rf "$entry"; exit 1' INT TERM`,
    `  mkdir -p "$entry" && echo "$entry/.git" > "$entry/gitdir" && : > "$entry/commondir"`,
    `  sleep ${(ms / 1000).toFixed(3)}`,
    `  rm -rf "$entry"`,
    "fi",
    `exec '${realGit}' "$@"`,
    "",
  ];
  writeFileSync(join(bin, "git"), script.join("\n"));
  chmodSync(join(bin, "git"), 0o755);
  t.env.PATH = `${bin}:${t.env.PATH ?? ""}`;
}

export async function runSoak(t: TestEnv, options: SoakOptions): Promise<SoakReport> {
  const widenMs = options.widenWorktreeAddMs ?? DEFAULT_WIDEN_MS;
  if (widenMs > 0) widenWorktreeAdd(t, widenMs);
  const branches = options.branches ?? DEFAULT_BRANCHES;
  const perBranch = options.callsPerBranch ?? 2;
  const timeoutMs = options.callTimeoutMs ?? 120_000;
  const churn = branches[0];
  const recycled = branches.slice(1, 1 + (options.recycled ?? 2));
  const report: SoakReport = {
    rounds: 0,
    branches,
    widenedMs: widenMs,
    calls: {},
    errors: [],
    cutShort: 0,
    started: 0,
    reused: 0,
    stopsOfRunning: 0,
    stopsOfStopped: 0,
    stopsMissedStart: 0,
    idsPerBranch: Object.fromEntries(branches.map((b) => [b, []])),
    ownersPerBranch: Object.fromEntries(branches.map((b) => [b, []])),
    fanOutMs: [],
    roundMs: [],
    violations: [],
    ownerPids: [],
  };
  const noteId = (branch: string, id: string) => {
    const ids = report.idsPerBranch[branch];
    if (ids && !ids.includes(id)) ids.push(id);
  };
  const generalise = (text: string) => text.replaceAll(t.root, "<tmp>").replace(/soak-half-added-\d+/g, "soak-half-added-…").replace(/sb-[0-9a-f]{8}/g, "sb-…").replace(/pid \d+/g, "pid …");
  const noteError = (round: number, args: string[], result: RunResult) => {
    const firstLine = result.stderr.trim().split("\n")[0] ?? "";
    const how = result.signal ? `killed by ${result.signal} (timeout ${timeoutMs} ms?)` : `exit ${result.code}`;
    const message = `heyvm ${args[0]}: ${generalise(firstLine) || "(no stderr)"} [${how}]`;
    const known = report.errors.find((e) => e.message === message);
    if (known) known.count++;
    else report.errors.push({ message, count: 1, example: `heyvm ${args.join(" ")}`, round });
  };
  /** Runs one heyvm command, counting it; a failure is counted unless `allowed` accepts it. */
  const call = async (round: number, args: string[], allowed?: (result: RunResult) => boolean): Promise<RunResult> => {
    const command = args[0] ?? "?";
    report.calls[command] = (report.calls[command] ?? 0) + 1;
    const result = await t.run(args, { timeoutMs });
    if (result.code !== 0 && !allowed?.(result)) noteError(round, args, result);
    return result;
  };
  const wt = async (round: number, branch: string, allowed?: (result: RunResult) => boolean) => {
    const result = await call(round, ["wt", branch, "--detach", "--backend", "bubblewrap"], allowed);
    if (result.code === 0 && /^ready: /m.test(result.stderr)) report.started++;
    if (result.code === 0 && /^already running: /m.test(result.stderr)) report.reused++;
    return result;
  };
  const stopCutShort = (result: RunResult) => {
    const cut = /stopped while starting/.test(result.stderr);
    if (cut) report.cutShort++;
    return cut;
  };
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  const soakRounds = async () => {
    for (let round = 1; round <= options.rounds; round++) {
      const roundStart = Date.now();
      const broken = (what: string) => report.violations.push(`round ${round}: ${what}`);

      // 1. fan-out: callsPerBranch wt calls per branch at once. From round 2 on (when the churn
      // branch has a record to stop) a stop of the churn branch races them, in turn: at once
      // (it stops the last round's owner while the wt calls come), while its new owner is
      // starting (the churn branch is stopped before the fan-out, and the stop waits for
      // owner.json to say "starting"), or once the first of its wt calls has returned.
      const staggerMs = STAGGER_MS[round % STAGGER_MS.length] ?? 0;
      const stopMode = round > 1 && churn ? STOP_MODES[round % STOP_MODES.length] : undefined;
      const churnId = churn ? report.idsPerBranch[churn]?.[0] : undefined;
      if (stopMode === "while starting" && churn) await call(round, ["stop", churn]);
      const fanOut: Array<Promise<{ branch: string; result: RunResult }>> = [];
      const fanOutStart = Date.now();
      for (let i = 0; i < perBranch; i++) {
        for (const [b, branch] of branches.entries()) {
          const startAfter = (i * branches.length + b) * staggerMs;
          const allowed = branch === churn && stopMode ? stopCutShort : undefined;
          fanOut.push(sleep(startAfter).then(() => wt(round, branch, allowed)).then((result) => ({ branch, result })));
        }
      }
      const churnCalls = fanOut.filter((_, index) => branches[index % branches.length] === churn);
      const startingSeen = async () => {
        const ownerPath = join(t.home, "sandboxes", churnId ?? "?", "owner.json");
        let done = false;
        void Promise.all(churnCalls).then(() => (done = true));
        while (!done && readJson(ownerPath)?.state !== "starting") await sleep(2);
        if (done) report.stopsMissedStart++;
      };
      const cue = stopMode === "at once" ? Promise.resolve() : stopMode === "while starting" ? startingSeen() : Promise.race(churnCalls);
      const racingStop = stopMode && churn ? cue.then(() => call(round, ["stop", churn])) : Promise.resolve(undefined);
      void racingStop.then((result) => {
        if (result?.code === 0 && /^stopped /.test(result.stdout)) report.stopsOfRunning++;
        else if (result?.code === 0) report.stopsOfStopped++;
      });
      const results = await Promise.all(fanOut);
      await racingStop;
      report.fanOutMs.push(Date.now() - fanOutStart);
      for (const { branch, result } of results) {
        const id = printedId(result.stdout);
        if (result.code !== 0) continue;
        if (!ID.test(id)) broken(`wt ${branch} printed ${JSON.stringify(id)}, not a sandbox id`);
        else noteId(branch, id);
      }
      // with nothing stopping it, the first wt of a branch starts its owner and the others find it
      for (const branch of branches.filter((b) => b !== churn)) {
        const starts = results.filter((r) => r.branch === branch && r.result.code === 0 && /^ready: /m.test(r.result.stderr)).length;
        if (starts > 1) broken(`${branch}: ${starts} wt calls of one fan-out each started an owner`);
      }

      // 2. settle: one more wt per branch, so that every branch must now be running
      const settled = await Promise.all(branches.map(async (branch) => ({ branch, result: await wt(round, branch) })));
      for (const { branch, result } of settled) {
        const id = printedId(result.stdout);
        if (result.code === 0 && ID.test(id)) noteId(branch, id);
        const leftRunning = results.some((r) => r.branch === branch && r.result.code === 0);
        if (branch !== churn && leftRunning && result.code === 0 && !/^already running: /m.test(result.stderr)) broken(`${branch}: the settling wt started an owner although the fan-out had left one running`);
      }

      // 3. check: one id, one record, one live owner process, one worktree per branch
      const worktrees = git(t.repo, "worktree", "list", "--porcelain");
      for (const branch of branches) {
        const records = recordsForBranch(t.home, branch);
        for (const id of records) noteId(branch, id);
        const ids = report.idsPerBranch[branch] ?? [];
        if (ids.length !== 1) broken(`${branch} has ${ids.length} sandbox ids: ${ids.join(", ")}`);
        if (records.length !== 1) broken(`${branch} has ${records.length} sandbox records`);
        const owners = ids.flatMap(ownerProcesses);
        report.ownersPerBranch[branch]?.push(owners.length);
        for (const pid of owners) if (!report.ownerPids.includes(pid)) report.ownerPids.push(pid);
        if (owners.length !== 1) broken(`${branch} has ${owners.length} live owner processes (${owners.join(", ") || "none"})`);
        const id = ids[0];
        const owner = id ? readJson(join(t.home, "sandboxes", id, "owner.json")) : undefined;
        if (id && (!owner || owner.state !== "running" || !owners.includes(owner.pid as number))) {
          broken(`${branch}: owner.json of ${id} is ${owner ? `pid ${String(owner.pid)} state ${String(owner.state)}` : "missing"}, live owners ${owners.join(", ") || "none"}`);
        }
        const checkouts = worktrees.split("\n").filter((line) => line === `branch refs/heads/${branch}`).length;
        if (checkouts !== 1) broken(`${branch} is checked out in ${checkouts} worktrees`);
      }

      // 4. recycle: stop some branches and remove their worktrees, so that the next fan-out
      // creates them again (`git worktree add` under the repository lock) while the other calls
      // run git too
      for (const branch of round < options.rounds ? recycled : []) {
        await call(round, ["stop", branch]);
        const path = worktreeOf(t.repo, branch);
        try {
          if (!path) throw new Error("it has no worktree");
          git(t.repo, "worktree", "remove", "--force", path);
        } catch (error) {
          broken(`could not remove the worktree of ${branch}: ${(error as Error).message.split("\n")[0]}`);
        }
      }

      report.rounds = round;
      report.roundMs.push(Date.now() - roundStart);
      options.log?.(`round ${round}: ${report.fanOutMs.at(-1)} ms fan-out (starts ${staggerMs} ms apart), ${report.roundMs.at(-1)} ms in all, ${report.errors.reduce((n, e) => n + e.count, 0)} errors, ${report.violations.length} broken invariants so far`);
    }
  };

  try {
    await soakRounds();
  } catch (error) {
    // a failure of the soak's own machinery (git, /proc) still returns what was counted
    report.violations.push(`round ${report.rounds + 1}: the soak itself failed: ${(error as Error).message.split("\n")[0]}`);
  }
  return report;
}

/**
 * Ends everything the soak started: `heyvm stop` for every sandbox id it saw, then, as a last
 * resort, the owner pids it recorded or that owner.json files under its HEYO_HOME name (each
 * checked to still be that sandbox's owner), then the test env's own clean-up.
 */
export async function cleanUpSoak(t: TestEnv, report: SoakReport | undefined): Promise<void> {
  let recorded: string[] = [];
  try {
    recorded = readdirSync(join(t.home, "sandboxes"));
  } catch {
    // nothing was created
  }
  const ids = [...new Set([...recorded, ...Object.values(report?.idsPerBranch ?? {}).flat()])];
  for (const id of ids) {
    await t.run(["stop", id], { timeoutMs: 60_000 }).catch(() => undefined);
  }
  const leftovers = [...new Set([...(report?.ownerPids ?? []), ...ownerPids(t.home)])].filter((pid) => {
    const argv = cmdline(pid).split("\0");
    return argv.includes("__sandbox_owner") && ids.some((id) => argv.includes(id)) && isAlive(pid);
  });
  for (const pid of leftovers) process.kill(pid, "SIGTERM");
  await waitFor(() => leftovers.every((pid) => !isAlive(pid)), 20_000, "owners to end").catch(() => {
    for (const pid of leftovers) if (isAlive(pid)) process.kill(pid, "SIGKILL");
  });
  await t.cleanup();
}

function spread(values: number[]): string {
  if (values.length === 0) return "-";
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[sorted.length >> 1] ?? 0;
  return `median ${median} ms, min ${sorted[0]} ms, max ${sorted.at(-1)} ms`;
}

/** The report as printable lines: counts first, then every distinct error and broken invariant. */
export function describeSoak(report: SoakReport): string[] {
  const errorCount = report.errors.reduce((n, e) => n + e.count, 0);
  const calls = Object.entries(report.calls).map(([command, n]) => `${n} ${command}`).join(", ");
  const lines = [
    `rounds: ${report.rounds}${report.widenedMs ? ` (every git worktree add held half-done for ${report.widenedMs} ms)` : " (real git, nothing widened)"}`,
    `calls: ${calls} (${Object.values(report.calls).reduce((a, b) => a + b, 0)} in all)`,
    `errors: ${errorCount}${report.cutShort ? ` (besides ${report.cutShort} wt cut short by the racing stop: "stopped while starting")` : ""}`,
  ];
  for (const e of report.errors) lines.push(`  ${e.count}× ${e.message}  — first in round ${e.round}: ${e.example}`);
  lines.push(`wt outcomes: ${report.started} started an owner, ${report.reused} found it running`);
  const missed = report.stopsMissedStart ? ` (${report.stopsMissedStart} meant for a start in progress came after it)` : "";
  lines.push(`racing stops: ${report.stopsOfRunning} stopped it running or starting, ${report.stopsOfStopped} found it stopped${missed}`);
  for (const branch of report.branches) {
    const ids = report.idsPerBranch[branch] ?? [];
    const owners = report.ownersPerBranch[branch] ?? [];
    const tally = [...new Set(owners)].sort().map((n) => `${owners.filter((o) => o === n).length} rounds with ${n}`).join(", ");
    lines.push(`${branch}: ${ids.length} id${ids.length === 1 ? "" : "s"} (${ids.join(", ") || "none"}); owners at each check: ${tally || "-"}`);
  }
  lines.push(`fan-out per round: ${spread(report.fanOutMs)}`);
  lines.push(`round in all: ${spread(report.roundMs)}`);
  lines.push(`broken invariants: ${report.violations.length}`);
  // the same breakage usually persists from round to round: one line each, with its rounds
  const rounds = new Map<string, string[]>();
  for (const v of report.violations) {
    const [, round = "?", what = v] = /^round (\d+): (.*)$/.exec(v) ?? [];
    rounds.set(what, [...(rounds.get(what) ?? []), round]);
  }
  for (const [what, where] of rounds) lines.push(`  ${what}  — round${where.length === 1 ? "" : "s"} ${where.join(", ")}`);
  return lines;
}

/** True when every call succeeded and every invariant held. */
export function soakPassed(report: SoakReport): boolean {
  return report.errors.length === 0 && report.violations.length === 0;
}
