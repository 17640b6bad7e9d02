// The one place errors become terminal output: a UserError is one line (plus its hint) and its
// own exit code; anything else is a bug and keeps its stack. Messages may quote a sandbox's output
// (a failed start's owner.log, a command's stderr): control sequences are shown escaped.
import { UserError } from "../shared/errors.js";
import { escapeControls } from "../shared/terminal-text.js";
import type { CliIO } from "./io.js";

export function reportError(io: CliIO, error: unknown): number {
  if (error instanceof UserError) {
    io.stderr.write(`heyvm: ${escapeControls(error.message)}\n`);
    if (error.hint) io.stderr.write(`  ${escapeControls(error.hint)}\n`);
    return error.exitCode;
  }
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  io.stderr.write(`heyvm: unexpected error (please report it):\n${escapeControls(detail)}\n`);
  return 1;
}
