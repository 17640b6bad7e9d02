// One way to run a platform tool (git, bwrap, virsh, qemu-img…) and get its output, so every
// caller reports a failing tool the same way: the command, its exit code and its stderr.
import { execFile, type ExecFileOptions } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export class CommandFailedError extends Error {
  readonly result: RunResult;
  readonly command: string;
  constructor(command: string, result: RunResult) {
    const detail = result.stderr.trim() || result.stdout.trim() || `exit code ${result.code}`;
    super(`${command}: ${detail}`);
    this.name = "CommandFailedError";
    this.command = command;
    this.result = result;
  }
}

export interface RunOptions extends Pick<ExecFileOptions, "cwd" | "env" | "timeout" | "uid" | "gid"> {
  /** Data written to the command's stdin. */
  input?: string;
  /** Resolve with the result instead of rejecting when the exit code is not 0. */
  allowFailure?: boolean;
}

/** Runs a command without a shell and collects its output. */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { cwd: options.cwd, env: options.env, timeout: options.timeout, uid: options.uid, gid: options.gid, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" },
      (error, stdout, stderr) => {
        const result: RunResult = { stdout, stderr, code: 0 };
        if (error) {
          const code = (error as { code?: unknown }).code;
          if (typeof code === "string") {
            reject(error); // spawn failure such as ENOENT: the tool is missing
            return;
          }
          result.code = typeof code === "number" ? code : 1;
          if (!options.allowFailure) {
            reject(new CommandFailedError([file, ...args].join(" "), result));
            return;
          }
        }
        resolve(result);
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Finds an executable on PATH (or checks an absolute path), without spawning anything. */
export function findExecutable(name: string, pathEnv = process.env.PATH ?? ""): string | undefined {
  const candidates = name.includes("/") ? [name] : pathEnv.split(delimiter).filter(Boolean).map((dir) => join(dir, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

/** Extra places system tools live that a non-root PATH often lacks. */
export const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Like findExecutable, also looking in the sbin folders. */
export function findSystemExecutable(name: string): string | undefined {
  return findExecutable(name, `${process.env.PATH ?? ""}${delimiter}${SYSTEM_PATH}`);
}
