// The one place errors become terminal output: a UserError is one line (plus its hint) and its
// own exit code; anything else is a bug and keeps its stack. Messages may quote a sandbox's output
// (a failed start's owner.log, a command's stderr): control sequences are shown escaped. Under
// --format json (--json) the same error is also printed on stdout as ErrorJson, for scripts.
import { UserError } from "../shared/errors.js";
import { escapeControls } from "../shared/terminal-text.js";
import type { CliIO } from "./io.js";

/** What every command prints on stdout for an error under --format json. */
export interface ErrorJson {
  error: { message: string; hint: string | null; exit_code: number };
}

export function errorJson(error: unknown): ErrorJson {
  if (error instanceof UserError) return { error: { message: error.message, hint: error.hint ?? null, exit_code: error.exitCode } };
  return { error: { message: `unexpected error (please report it): ${error instanceof Error ? error.message : String(error)}`, hint: null, exit_code: 1 } };
}

export function reportError(io: CliIO, error: unknown, options: { json?: boolean } = {}): number {
  if (options.json) io.stdout.write(`${JSON.stringify(errorJson(error), null, 2)}\n`);
  if (error instanceof UserError) {
    io.stderr.write(`heyvm: ${escapeControls(error.message)}\n`);
    if (error.hint) io.stderr.write(`  ${escapeControls(error.hint)}\n`);
    return error.exitCode;
  }
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  io.stderr.write(`heyvm: unexpected error (please report it):\n${escapeControls(detail)}\n`);
  return 1;
}
