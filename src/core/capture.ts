// Runs a sandbox command without a terminal and collects what it prints: for `exec --format
// json` and the cloud server's exec route alike.
import { spawn } from "node:child_process";
import type { SpawnSpec } from "../backends/types.js";
import { exitStatus } from "../shared/exit-status.js";

export interface CapturedRun {
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved in the order they came. */
  output: string;
  exitCode: number;
  /** Whether stdout (stderr) was cut at maxOutputBytes. */
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
}

export interface RunCapturedOptions {
  /** The caller's stdin passed on, none, or these bytes (then end of file). */
  stdin: "inherit" | "ignore" | Buffer;
  /** Output beyond this many bytes (per stream) is cut, with a note. */
  maxOutputBytes: number;
  /** Aborting kills the command (the client went away). */
  signal?: AbortSignal;
}

export function runCaptured(command: SpawnSpec, options: RunCapturedOptions): Promise<CapturedRun> {
  return new Promise((resolve, reject) => {
    const input = Buffer.isBuffer(options.stdin) ? options.stdin : undefined;
    const child = spawn(command.file, command.args, { env: command.env ?? process.env, stdio: [input ? "pipe" : options.stdin === "inherit" ? "inherit" : "ignore", "pipe", "pipe"] });
    if (input && child.stdin) {
      child.stdin.on("error", () => undefined); // a command that does not read it all is not an error here
      child.stdin.end(input);
    }
    const chunks = { stdout: [] as Buffer[], stderr: [] as Buffer[], output: [] as Buffer[] };
    const sizes = { stdout: 0, stderr: 0 };
    const collect = (stream: "stdout" | "stderr") => (chunk: Buffer) => {
      if (sizes[stream] >= options.maxOutputBytes) return;
      const part = chunk.subarray(0, options.maxOutputBytes - sizes[stream]);
      sizes[stream] += part.length;
      chunks[stream].push(part);
      chunks.output.push(part);
    };
    child.stdout?.on("data", collect("stdout"));
    child.stderr?.on("data", collect("stderr"));
    const abort = () => child.kill("SIGKILL");
    options.signal?.addEventListener("abort", abort, { once: true });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      options.signal?.removeEventListener("abort", abort);
      const text = (parts: Buffer[], cut: boolean) => Buffer.concat(parts).toString("utf8") + (cut ? "\n[heyvm: output cut]\n" : "");
      const cut = (s: "stdout" | "stderr") => sizes[s] >= options.maxOutputBytes;
      resolve({
        stdout: text(chunks.stdout, cut("stdout")),
        stderr: text(chunks.stderr, cut("stderr")),
        output: text(chunks.output, false),
        exitCode: exitStatus(code, signal),
        stdoutTruncated: cut("stdout"),
        stderrTruncated: cut("stderr"),
      });
    });
  });
}

/** Where streamed output goes: write answers false while its reader is behind, onDrain calls back once it caught up. */
export interface OutputSink {
  write(stream: "stdout" | "stderr", chunk: Buffer): boolean;
  onDrain(resume: () => void): void;
}

/**
 * Runs a command without a terminal, handing its output to sink as it comes, and reading no more
 * of it while the sink is behind (the command then blocks on its writes): nothing is buffered here.
 */
export function runStreamed(command: SpawnSpec, options: { sink: OutputSink; signal?: AbortSignal }): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command.file, command.args, { env: command.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let waiting = false;
    const forward = (stream: "stdout" | "stderr") => (chunk: Buffer) => {
      if (options.sink.write(stream, chunk) || waiting) return;
      waiting = true;
      child.stdout.pause();
      child.stderr.pause();
      options.sink.onDrain(() => {
        waiting = false;
        child.stdout.resume();
        child.stderr.resume();
      });
    };
    child.stdout.on("data", forward("stdout"));
    child.stderr.on("data", forward("stderr"));
    const abort = () => child.kill("SIGKILL");
    options.signal?.addEventListener("abort", abort, { once: true });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      options.signal?.removeEventListener("abort", abort);
      resolve(exitStatus(code, signal));
    });
  });
}
