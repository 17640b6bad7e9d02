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
