// What `exec --timeout` and `exec --session` add to a command, for local and cloud sandboxes
// alike: both run inside the sandbox (coreutils/busybox `timeout`, a POSIX sh session script),
// so the command's whole process tree is ended or kept, whatever the transport (nsenter, SSH,
// the cloud's sh -c).
import { UserError } from "../shared/errors.js";
import { shellQuote } from "../shared/shell-quote.js";

/** How long after SIGTERM a timed-out command is killed outright. */
const KILL_AFTER_SECONDS = 5;

export interface ExecWrapOptions {
  timeoutMs?: number;
  /** A named session: working folder and exported variables carry over between calls. */
  session?: string;
  /** Run as this user of the sandbox (a name or a uid) instead of its own. */
  user?: string;
}

/**
 * The session script: enter the session's folder and variables, run the command as shell
 * source (so `cd` and `export` act on the session), then save the folder and variables. The
 * caller's own -e variables are exported after the saved ones, so they win for this call.
 */
const SESSION_SCRIPT = [
  'd="${TMPDIR:-/tmp}/heyvm-sessions/$1"; cmd=$2; shift 2',
  'mkdir -p "$d" || exit 125',
  'if [ -f "$d/cwd" ]; then cd "$(cat "$d/cwd")" 2>/dev/null || true; fi',
  'if [ -f "$d/env" ]; then . "$d/env"; fi',
  'for kv in "$@"; do export "$kv"; done',
  'eval "$cmd"; rc=$?',
  'pwd > "$d/cwd"; export -p > "$d/env"',
  "exit $rc",
].join("\n");

const SESSION_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * `exec --user`: inside the sandbox, look the user up in the sandbox's own accounts, then run the
 * command as it with setpriv (its uid, gid and groups; HOME, USER and LOGNAME its own). The
 * sandbox's own user needs no switch; switching to another needs root inside, which a sandbox
 * whose commands run as its unprivileged user lacks: both failures say so and exit 125.
 */
const AS_USER_SCRIPT = [
  'u=$1; shift',
  'uid=$(id -u "$u" 2>/dev/null) || { echo "heyvm: exec --user $u: there is no such user in this sandbox" >&2; exit 125; }',
  '[ "$uid" = "$(id -u)" ] && exec "$@"',
  '[ "$(id -u)" = 0 ] || { echo "heyvm: exec --user $u: commands in this sandbox do not run as root in it, so they cannot become another user" >&2; exit 125; }',
  'command -v setpriv >/dev/null 2>&1 || { echo "heyvm: exec --user $u: setpriv (util-linux) is not installed in this sandbox" >&2; exit 125; }',
  'home=$(awk -F: -v u="$u" \'$1 == u || $3 == u { print $6; exit }\' /etc/passwd)',
  'name=$(id -un "$u")',
  'export HOME="${home:-/}" USER="$name" LOGNAME="$name"',
  'exec setpriv --reuid="$uid" --regid="$(id -g "$u")" --init-groups -- "$@"',
].join("\n");

/** A user name as useradd takes it, or a uid. */
const USER_NAME = /^(?:[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?|\d{1,10})$/;

/**
 * `heyvm session reset`: the command that forgets a session's folder and variables inside the
 * sandbox (where SESSION_SCRIPT keeps them); it prints "reset", or "absent" when there was none.
 */
export function sessionResetArgv(name: string): string[] {
  if (!SESSION_NAME.test(name)) throw new UserError(`a session name is letters, digits, '.', '_' or '-', not "${name}"`);
  const script = 'd="${TMPDIR:-/tmp}/heyvm-sessions/$1"; if [ -e "$d" ]; then rm -rf -- "$d" || exit 125; echo reset; else echo absent; fi';
  return ["sh", "-c", script, "heyvm-session-reset", name];
}

export interface WrappedCommand {
  argv: string[];
  /** Variables for the transport to export (a session exports them itself). */
  env: Record<string, string>;
}

export function wrapCommand(argv: readonly string[], env: Record<string, string>, options: ExecWrapOptions): WrappedCommand {
  let words = [...argv];
  let outer = env;
  if (options.session !== undefined) {
    if (!SESSION_NAME.test(options.session)) throw new UserError(`--session takes a name of letters, digits, '.', '_' or '-', not "${options.session}"`);
    const pairs = Object.entries(env).map(([key, value]) => `${key}=${value}`);
    words = ["sh", "-c", SESSION_SCRIPT, "heyvm-session", options.session, argv.map(shellQuote).join(" "), ...pairs];
    outer = {};
  }
  if (options.timeoutMs !== undefined) {
    const seconds = Math.max(0.001, options.timeoutMs / 1000);
    words = ["timeout", "-k", String(KILL_AFTER_SECONDS), String(seconds), ...words];
  }
  if (options.user !== undefined) {
    // outermost: the timeout and the session run as the user too (their files are its own)
    if (!USER_NAME.test(options.user)) throw new UserError(`--user takes a user name or a uid, not "${options.user}"`, { hint: "for instance --user heyo or --user 1000" });
    words = ["sh", "-c", AS_USER_SCRIPT, "heyvm-user", options.user, ...words];
  }
  return { argv: words, env: outer };
}

/** True when an exit status means `timeout` ended the command (TERM, or KILL after the grace). */
export function timedOut(exitCode: number, elapsedMs: number, timeoutMs: number | undefined): boolean {
  return timeoutMs !== undefined && elapsedMs >= timeoutMs * 0.95 && (exitCode === 124 || exitCode === 137);
}

/** `--timeout 30s`, `5m`, `1h`, `500ms`, or plain seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  const value = match ? Number(match[1]) : Number.NaN;
  const unit = match?.[2] ?? "s";
  const ms = value * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as "ms" | "s" | "m" | "h"];
  if (!Number.isFinite(ms) || ms <= 0) throw new UserError(`--timeout takes a duration such as 30s, 5m or 500ms, not "${text}"`);
  return ms;
}
