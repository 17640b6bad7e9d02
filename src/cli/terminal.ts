// The user's terminal as the shell use cases see it (core/targets UserTerminal): this process's
// stdin and stdout, raw mode and window-size changes.
import type { UserTerminal } from "../core/targets/types.js";
import type { CliIO } from "./io.js";

export function processTerminal(io: CliIO): UserTerminal {
  const stdin = process.stdin;
  const stdout = process.stdout;
  return {
    tty: stdin.isTTY === true,
    input: stdin,
    output: io.stdout,
    notices: io.stderr,
    size: () => ({ cols: stdout.columns || 80, rows: stdout.rows || 24 }),
    setRawMode: (on) => {
      if (stdin.isTTY) stdin.setRawMode(on);
    },
    onResize: (listener) => {
      process.on("SIGWINCH", listener);
      return () => process.off("SIGWINCH", listener);
    },
  };
}

/** Asks a yes/no question on the terminal; true only for an answer starting with y. */
export function confirm(io: CliIO, question: string): Promise<boolean> {
  io.stderr.write(question);
  return new Promise((resolve) => {
    process.stdin.setEncoding("utf8");
    process.stdin.once("data", (answer: string) => {
      process.stdin.pause();
      resolve(/^y/i.test(answer.trim()));
    });
    process.stdin.resume();
  });
}
