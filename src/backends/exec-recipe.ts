// How a backend runs a command in a running sandbox, as data: the program, a template of its
// arguments, and its environment. The Node CLI expands a recipe here at each exec; the owner
// writes the same recipe into the sandbox folder once it is ready (core/launch-record.ts), and
// the native launcher (native/launcher/) expands it with the same rules, so that what exec runs
// is decided in one place — the backend's TypeScript — and the C code knows no backend.
import { UserError } from "../shared/errors.js";
import { shellQuote } from "../shared/shell-quote.js";

/** A process for the CLI to spawn with the user's terminal attached. */
export interface SpawnSpec {
  file: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
}

/** What an exec call fills into a recipe's template: the folder inside and extra variables. */
export interface ExecOptions {
  cwd?: string;
  env?: Record<string, string>;
}

/**
 * One part of a word made of several: literal text, the folder, the count of variables, the
 * variables as KEY=VALUE joined (values shell-quoted if asked), or argv shell-quoted and joined.
 */
export type ExecPart =
  | string
  | { value: "cwd"; quote: boolean }
  | { value: "envCount" }
  | { env: { quote: boolean; prefix: string; separator: string; suffix: string } }
  | { argv: { separator: string } };

/**
 * A word of the command line: literal, one word per variable (KEY=VALUE) or per argument, or
 * one word made of parts (an SSH remote command line).
 */
export type ExecWord = string | { each: "env" | "argv" } | { join: ExecPart[] };

/** A process that must still be the very one recorded (pid and /proc start time) for exec to go on. */
export interface ProcessCheck {
  pid: number;
  startTime: string;
}

export interface ExecRecipe {
  /** The program: an absolute path, or a name spawn looks up on the caller's PATH. */
  program: string;
  /** The program was found by heyvm's own lookup (findExecutable): on the caller's PATH, then extraPath. */
  lookup: { name: string; extraPath: string } | null;
  args: ExecWord[];
  /** Fixed variables, then the ones taken from the caller when set and not empty; null: the caller's whole environment. */
  env: { set: Array<[string, string]>; pass: string[] } | null;
  /** The folder when the call names none. */
  cwd: string;
  /** Variable names must be shell names (they are exported by a script inside). */
  checkEnvNames: boolean;
  /** Checked by the native launcher; the backend has checked them already when it made the recipe. */
  checks: ProcessCheck[];
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function part(piece: ExecPart, cwd: string, pairs: Array<[string, string]>, argv: readonly string[]): string {
  if (typeof piece === "string") return piece;
  if ("value" in piece) {
    if (piece.value === "envCount") return String(pairs.length);
    return piece.quote ? shellQuote(cwd) : cwd;
  }
  if ("env" in piece) {
    const { quote, prefix, separator, suffix } = piece.env;
    if (pairs.length === 0) return "";
    return `${prefix}${pairs.map(([key, value]) => `${key}=${quote ? shellQuote(value) : value}`).join(separator)}${suffix}`;
  }
  return argv.map(shellQuote).join(piece.argv.separator);
}

function environment(recipe: ExecRecipe, callerEnv: NodeJS.ProcessEnv): NodeJS.ProcessEnv | undefined {
  if (recipe.env === null) return undefined; // spawn passes the caller's own
  const env: Record<string, string> = Object.fromEntries(recipe.env.set);
  for (const key of recipe.env.pass) {
    const value = callerEnv[key];
    if (value) env[key] = value;
  }
  return env;
}

/** The process that runs argv as the recipe says. */
export function expandExecRecipe(recipe: ExecRecipe, argv: readonly string[], options: ExecOptions, callerEnv: NodeJS.ProcessEnv = process.env): SpawnSpec {
  const cwd = options.cwd ?? recipe.cwd;
  const pairs = Object.entries(options.env ?? {});
  if (recipe.checkEnvNames) {
    for (const [key] of pairs) if (!ENV_NAME.test(key)) throw new UserError(`"${key}" is not a valid environment variable name`);
  }
  const args = recipe.args.flatMap((word): string[] => {
    if (typeof word === "string") return [word];
    if ("each" in word) return word.each === "argv" ? [...argv] : pairs.map(([key, value]) => `${key}=${value}`);
    return [word.join.map((piece) => part(piece, cwd, pairs, argv)).join("")];
  });
  const env = environment(recipe, callerEnv);
  return env === undefined ? { file: recipe.program, args } : { file: recipe.program, args, env };
}

/**
 * The command that runs argv in a running sandbox, from its backend's recipe (any backend: typed
 * by what it uses, so that this module does not import the backend contract that imports it).
 */
export function execCommand<Access>(backend: { execRecipe(access: Access): ExecRecipe }, access: Access, argv: readonly string[], options: ExecOptions): SpawnSpec {
  return expandExecRecipe(backend.execRecipe(access), argv, options);
}
