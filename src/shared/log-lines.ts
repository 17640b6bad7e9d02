// owner.log's line format, written by heyvm (owner/log.ts, the native monitor's log.c, the start
// command's relay) and read back for a terminal: "<ISO time> <source>: <text>", one line per line
// of text. Sources name who wrote the text: heyvm itself ("owner") or the sandbox ("console": the
// machine's console; "start": the start command's output). Whatever the sandbox prints stays
// after its source word: newlines start new, prefixed lines and carriage returns are dropped,
// and on the way to a terminal every control sequence is shown escaped (terminal-text.ts), so no
// guest text can hide its prefix or pass for heyvm's own line.
import { decodeUntrusted } from "./terminal-text.js";

/** Who wrote a line of owner.log. */
export const LOG_SOURCE = { owner: "owner", console: "console", start: "start" } as const;
export type LogSource = (typeof LOG_SOURCE)[keyof typeof LOG_SOURCE];

const LINE_HEAD = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [a-z]+: /;

/** Shown before a line of owner.log that is not in heyvm's format (a process's raw output). */
export const UNATTRIBUTED_MARK = "(raw) ";

/** The owner.log lines for a message: one "<time> <source>: " line per line of it. */
export function formatLogLines(source: LogSource, message: string, now = new Date()): string {
  const stamp = now.toISOString();
  return message
    .split("\n")
    .map((part) => `${stamp} ${source}: ${part.replace(/\r/g, "")}\n`)
    .join("");
}

/**
 * owner.log bytes as shown on a terminal: decoded with every control sequence and invalid byte
 * escaped, and each line that heyvm did not write in its format marked as such. `bytes` should
 * hold whole lines (a cut line is shown as two).
 */
export function renderLogBytes(bytes: Uint8Array): string {
  return renderLogText(decodeUntrusted(bytes));
}

/** renderLogBytes for text already escaped (the cloud's log route sends it so); rendering twice changes nothing. */
export function renderLogText(escaped: string): string {
  const shown = (line: string, last: boolean) => (last && line === "") || LINE_HEAD.test(line) || line.startsWith(UNATTRIBUTED_MARK);
  return escaped
    .split("\n")
    .map((line, index, all) => (shown(line, index === all.length - 1) ? line : `${UNATTRIBUTED_MARK}${line}`))
    .join("\n");
}
