// Test fixtures: a temporary HEYO_HOME and git repository, a way to run the real heyvm binary,
// and a clean-up that ends every owner (and so every sandbox) started under that HEYO_HOME.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const HEYVM = fileURLToPath(new URL("../../../bin/heyvm", import.meta.url));

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface TestEnv {
  root: string;
  home: string;
  repo: string;
  env: NodeJS.ProcessEnv;
  /** prefix: argv the heyvm command runs under (e.g. `ip netns exec <name>`). */
  run(args: string[], options?: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; prefix?: string[] }): Promise<RunResult>;
  spawn(args: string[], options?: { cwd?: string; env?: NodeJS.ProcessEnv }): ChildProcess;
  cleanup(): Promise<void>;
}

export function git(cwd: string, ...args: string[]): string {
  const result = spawnSync("git", args, { cwd, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`git ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

export function makeRepo(dir: string): void {
  mkdirSync(dir, { recursive: true });
  git(dir, "init", "-q", "-b", "main");
  git(dir, "config", "user.email", "dev@example.com");
  git(dir, "config", "user.name", "Dev");
  writeFileSync(join(dir, "README.md"), "hello\n");
  git(dir, "add", ".");
  git(dir, "commit", "-qm", "init");
}

/** Owner pids recorded under a HEYO_HOME, checked to really be heyvm owners before use. */
export function ownerPids(home: string): number[] {
  const pids: number[] = [];
  let ids: string[] = [];
  try {
    ids = readdirSync(join(home, "sandboxes"));
  } catch {
    return pids;
  }
  for (const id of ids) {
    try {
      const owner = JSON.parse(readFileSync(join(home, "sandboxes", id, "owner.json"), "utf8")) as { pid: number };
      const cmdline = readFileSync(`/proc/${owner.pid}/cmdline`, "utf8");
      if (cmdline.includes("__sandbox_owner") && cmdline.includes(id)) pids.push(owner.pid);
    } catch {
      // no owner, or not running
    }
  }
  return pids;
}

/**
 * After a test's owners are gone: a sandbox whose owner was killed (kill -9, or the end of a test)
 * keeps what heyvm mounted for it on the host (its home image) and its cgroup until its next
 * stop, which reaps them; stop every such sandbox so the test's folder can be removed.
 */
export function reapLeftovers(home: string): void {
  const prefix = `${join(home, "sandboxes")}/`;
  const mounted = new Set<string>();
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const mountPoint = line.split(" ")[4] ?? "";
    if (mountPoint.startsWith(prefix)) mounted.add(mountPoint.slice(prefix.length).split("/")[0] ?? "");
  }
  for (const id of mounted) if (id) spawnSync(HEYVM, ["stop", id], { env: { ...process.env, HEYO_HOME: home }, stdio: "ignore", timeout: 60_000 });
}

export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export function makeTestEnv(prefix = "heyvm-test-"): TestEnv {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const home = join(root, "heyo");
  const repo = join(root, "repo");
  makeRepo(repo);
  const env: NodeJS.ProcessEnv = { ...process.env, HEYO_HOME: home };
  delete env.HEYO_API_KEY;
  const children: ChildProcess[] = [];
  const testEnv: TestEnv = {
    root,
    home,
    repo,
    env,
    run(args, options = {}) {
      return new Promise((resolve, reject) => {
        const [file, ...argv] = [...(options.prefix ?? []), HEYVM, ...args];
        const child = spawn(file ?? HEYVM, argv, { cwd: options.cwd ?? repo, env: { ...env, ...options.env }, stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
        child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
        const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
        child.on("error", reject);
        child.on("close", (code, signal) => {
          clearTimeout(timer);
          resolve({ code, signal, stdout, stderr });
        });
        // a command that exits without reading its input (the launcher's --version) closes the
        // pipe first: EPIPE here is that, not a failure of the command
        child.stdin.on("error", (error: NodeJS.ErrnoException) => {
          if (error.code !== "EPIPE") reject(error);
        });
        child.stdin.end(options.input ?? "");
      });
    },
    spawn(args, options = {}) {
      const child = spawn(HEYVM, args, { cwd: options.cwd ?? repo, env: { ...env, ...options.env }, stdio: ["pipe", "pipe", "pipe"] });
      children.push(child);
      return child;
    },
    async cleanup() {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      const pids = ownerPids(home);
      for (const pid of pids) process.kill(pid, "SIGTERM");
      await waitFor(() => pids.every((pid) => !isAlive(pid)), 30_000, "owners to stop").catch(() => {
        for (const pid of pids) if (isAlive(pid)) process.kill(pid, "SIGKILL");
      });
      reapLeftovers(home);
      rmSync(root, { recursive: true, force: true });
    },
  };
  return testEnv;
}

/** Whether a binary is on PATH (tests skip with the reason when something is missing). */
export function hasCommand(name: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).status === 0;
}

/** The sandbox id a `wt`/`create`/`start` printed, read as a client reads it: the `ID: …` line (or the bare id of -q). */
export function idOf(stdout: string): string {
  const match = /^ID: (\S+)$/m.exec(stdout) ?? /^(sb-[0-9a-f]{8})\n$/.exec(stdout);
  if (!match?.[1]) throw new Error(`no "ID: …" line in: ${JSON.stringify(stdout)}`);
  return match[1];
}

/**
 * Why bubblewrap sandboxes cannot run here, or false: bwrap itself, and pasta (Debian's passt),
 * which gives them their default network (outbound only).
 */
export function bubblewrapMissing(): string | false {
  if (!hasCommand("bwrap")) return "bubblewrap (bwrap) is not installed";
  if (!hasCommand("pasta")) return "pasta (apt-get install passt) is not installed: bubblewrap sandboxes get their default network from it";
  return false;
}
