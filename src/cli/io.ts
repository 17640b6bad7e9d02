// The CLI's output streams and progress reporting; tests pass their own streams to main().
import { writeSync } from "node:fs";
import { Writable } from "node:stream";
import type { Reporter } from "../backends/types.js";
import { escapeControls } from "../shared/terminal-text.js";

/** Where the CLI writes text: process.stdout, a test's stream, or a plain file descriptor. */
export interface TextOutput {
  write(text: string | Uint8Array): unknown;
}

export interface CliIO {
  stdout: TextOutput;
  stderr: TextOutput;
}

/**
 * Text written straight to a file descriptor. Building process.stdout loads node's stream
 * machinery (about 4 ms); the fast path (exec, list) skips it. A full non-blocking pipe is
 * waited on, a reader that went away (EPIPE) ends the output quietly.
 */
export function fdOutput(fd: number): TextOutput {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  return {
    write(text: string | Uint8Array) {
      let bytes = typeof text === "string" ? Buffer.from(text) : Buffer.from(text.buffer, text.byteOffset, text.byteLength);
      while (bytes.length > 0) {
        try {
          bytes = bytes.subarray(writeSync(fd, bytes));
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === "EPIPE") return false;
          if (code !== "EAGAIN") throw error;
          Atomics.wait(pause, 0, 0, 1);
        }
      }
      return true;
    },
  };
}

/**
 * Resolves once everything written to out has reached its file descriptor. process.stdout writes
 * to a pipe asynchronously, so process.exit() right after the last write drops what the reader
 * had not taken yet (`heyvm exec … | wc -c` came up short); fdOutput writes synchronously.
 */
export function written(out: TextOutput): Promise<void> {
  if (!(out instanceof Writable) || out.writableEnded || out.destroyed) return Promise.resolve();
  // queued behind every earlier write; called with an error too (EPIPE: the reader is gone)
  return new Promise((resolve) => out.write("", () => resolve()));
}

/** A reader that went away (EPIPE) ends the output quietly, as fdOutput does, instead of an uncaught error. */
export function quietOnClosedReader(out: TextOutput): void {
  if (!(out instanceof Writable)) return;
  out.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
  });
}

/** Text for the terminal; what it quotes from a sandbox (a self-test's details…) cannot drive it. */
export function print(io: CliIO, text: string): void {
  const shown = escapeControls(text);
  io.stdout.write(shown.endsWith("\n") ? shown : `${shown}\n`);
}

/** JSON with the characters a terminal would act on as \u escapes: the same value, inert on a terminal. */
export function printJson(io: CliIO, value: unknown): void {
  io.stdout.write(`${escapeControls(JSON.stringify(value, null, 2))}\n`);
}

/** Progress goes to stderr so stdout stays clean data (ids, JSON) for scripts. */
export function stderrReporter(io: CliIO, quiet = false): Reporter {
  return {
    progress: (message) => {
      if (!quiet) io.stderr.write(`… ${escapeControls(message)}\n`);
    },
    info: (message) => {
      if (!quiet) io.stderr.write(`${escapeControls(message)}\n`);
    },
  };
}
