// The environment a command sees inside any sandbox: a clean one, so host secrets (API keys,
// tokens) in the caller's environment never leak in; only terminal and locale settings pass.
import type { SandboxSpec } from "../state/records.js";

export const GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const PASSED_THROUGH = ["TERM", "COLORTERM", "LANG", "LC_ALL", "LC_CTYPE"];

export function guestEnvironment(spec: SandboxSpec, home: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: GUEST_PATH,
    HOME: home,
    USER: "heyo",
    LOGNAME: "heyo",
    HEYVM_SANDBOX_ID: spec.id,
    HEYVM_SANDBOX_NAME: spec.name,
  };
  for (const key of PASSED_THROUGH) {
    const value = process.env[key];
    if (value) env[key] = value;
  }
  return { ...env, ...extra };
}

/** A POSIX sh script that enters a folder and runs "$@"; argv passes through untouched. */
export const CD_AND_EXEC = 'cd -- "$1" || exit 127; shift; exec "$@"';

/** A POSIX sh script that opens the best login shell the sandbox has. */
export const LOGIN_SHELL = 'cd -- "$1" || exit 127; if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi';
