// A throwaway host user for tests that run heyvm (or a program a sandbox left) as someone other
// than root: made with useradd, removed with userdel, even when the test fails.
import { spawn, spawnSync } from "node:child_process";
import { chownSync, lstatSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  /** Its home folder (inside the test's own folder). */
  home: string;
  remove(): void;
}

/** Makes user `name` with its home under `parent`; throws with useradd's words on failure. */
export function makeTestUser(name: string, parent: string): TestUser {
  spawnSync("userdel", [name], { encoding: "utf8" }); // a leftover of an earlier, killed run
  const home = join(parent, `home-${name}`);
  mkdirSync(home, { recursive: true });
  const made = spawnSync("useradd", ["-M", "-d", home, "-s", "/bin/sh", name], { encoding: "utf8" });
  if (made.status !== 0) throw new Error(`useradd ${name}: ${made.stderr}`);
  const uid = Number(spawnSync("id", ["-u", name], { encoding: "utf8" }).stdout.trim());
  const gid = Number(spawnSync("id", ["-g", name], { encoding: "utf8" }).stdout.trim());
  spawnSync("chown", ["-R", `${uid}:${gid}`, home]);
  return { name, uid, gid, home, remove: () => void spawnSync("userdel", [name]) };
}

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs argv as the user (or as this process when user is undefined), with a minimal environment. */
export function runAs(user: TestUser | undefined, argv: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const [file = "", ...args] = argv;
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: user?.home ?? process.env.HOME ?? "/root", ...options.env };
    const child = spawn(file, args, { cwd: options.cwd, env, stdio: ["ignore", "pipe", "pipe"], ...(user ? { uid: user.uid, gid: user.gid } : {}) });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Who runs heyvm in a test: root, or a created user, with the argv prefix that runs a command as it. */
export interface HostUser {
  uid: number;
  gid: number;
  /** argv prefix that runs a command as this user (empty for root). */
  prefix: string[];
}

/** Hands a test's folder to the user that will run heyvm on it (links themselves, not followed). */
export function chownTree(path: string, user: HostUser): void {
  const stat = lstatSync(path);
  chownSync(path, user.uid, user.gid);
  if (stat.isDirectory() && !stat.isSymbolicLink()) for (const name of readdirSync(path)) chownTree(join(path, name), user);
}
