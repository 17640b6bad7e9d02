// The CLI's output streams and progress reporting; tests pass their own streams to main().
import type { Reporter } from "../backends/types.js";

export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export function print(io: CliIO, text: string): void {
  io.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

export function printJson(io: CliIO, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Progress goes to stderr so stdout stays clean data (ids, JSON) for scripts. */
export function stderrReporter(io: CliIO, quiet = false): Reporter {
  return {
    progress: (message) => {
      if (!quiet) io.stderr.write(`… ${message}\n`);
    },
    info: (message) => {
      if (!quiet) io.stderr.write(`${message}\n`);
    },
  };
}
