// The environment a command sees inside any sandbox: a clean one, so host secrets (API keys,
// tokens) in the caller's environment never leak in; only terminal and locale settings pass.
import { UserError } from "../shared/errors.js";
import type { SandboxSpec } from "../state/records.js";

export const GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const PASSED_THROUGH = ["TERM", "COLORTERM", "LANG", "LC_ALL", "LC_CTYPE"];

/**
 * The guest environment as the exec recipe keeps it (exec-recipe.ts): the fixed variables, and
 * the names taken from the caller's environment at each call when set and not empty.
 */
export function guestEnvironmentRecipe(spec: SandboxSpec, home: string): { set: Array<[string, string]>; pass: string[] } {
  return {
    set: [
      ["PATH", GUEST_PATH],
      ["HOME", home],
      ["USER", "heyo"],
      ["LOGNAME", "heyo"],
      ["HEYVM_SANDBOX_ID", spec.id],
      ["HEYVM_SANDBOX_NAME", spec.name],
    ],
    pass: [...PASSED_THROUGH],
  };
}

export function guestEnvironment(spec: SandboxSpec, home: string, extra: Record<string, string> = {}): Record<string, string> {
  const recipe = guestEnvironmentRecipe(spec, home);
  const env: Record<string, string> = Object.fromEntries(recipe.set);
  for (const key of recipe.pass) {
    const value = process.env[key];
    if (value) env[key] = value;
  }
  return { ...env, ...extra };
}

/**
 * Arguments of the two scripts below: the folder, the count of KEY=VALUE words, those words,
 * then argv. The user's variables are exported *inside* the sandbox, never put in the
 * environment of a host-side helper (nsenter), where LD_PRELOAD and the like would act on the host.
 */
const ENTER = 'cd -- "$1" || exit 127; n=$2; shift 2; while [ "$n" -gt 0 ]; do export "$1"; shift; n=$((n-1)); done;';

/** A POSIX sh script that enters a folder, exports variables and runs "$@" untouched. */
export const CD_AND_EXEC = `${ENTER} exec "$@"`;

/** A POSIX sh script that opens the best login shell the sandbox has. */
export const LOGIN_SHELL = `${ENTER} if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi`;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The words CD_AND_EXEC and LOGIN_SHELL take before argv. */
export function enterWords(cwd: string, env: Record<string, string> = {}): string[] {
  const pairs = Object.entries(env);
  for (const [key] of pairs) if (!NAME.test(key)) throw new UserError(`"${key}" is not a valid environment variable name`);
  return [cwd, String(pairs.length), ...pairs.map(([key, value]) => `${key}=${value}`)];
}
