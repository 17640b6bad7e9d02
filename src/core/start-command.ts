// A sandbox's start command (create --start-command, a deployment's start_command) runs detached
// with its output relayed into owner.log by a host-side awk as "start:" lines. The sandbox never
// holds owner.log open: a process inside could otherwise write lines that pass for heyvm's own.
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { LOG_SOURCE } from "../shared/log-lines.js";

/**
 * Prefixes each line with the time and source, as shared/log-lines.ts formats owner.log's lines
 * (mawk, Debian's awk, reads a pipe line by line only when told: -W interactive).
 */
const AWK_PROGRAM = `{ printf "%s.000Z ${LOG_SOURCE.start}: %s\\n", strftime("%Y-%m-%dT%H:%M:%S", systime(), 1), $0; fflush() }`;
const RELAY = `p='${AWK_PROGRAM}'; "$@" 2>&1 </dev/null | if command -v mawk >/dev/null 2>&1; then exec mawk -W interactive "$p"; else exec awk "$p"; fi`;

/** Runs file with args detached, its stdout and stderr appended to logPath through the relay. */
export function spawnLoggedDetached(file: string, args: readonly string[], env: NodeJS.ProcessEnv, logPath: string): void {
  const log = openSync(logPath, "a");
  try {
    spawn("/bin/sh", ["-c", RELAY, "sh", file, ...args], { env, stdio: ["ignore", log, log], detached: true }).unref();
  } finally {
    closeSync(log);
  }
}
