// exec's options and its output: declared once, here. Commander parses them from this table, and
// the native launcher's option table (native/launcher/, which answers `exec <id> [options] -- cmd`
// without Node) is generated from it at build time (scripts/exec-options-header.mjs).
import type { ExecRequest, ExecResult } from "../../core/targets/types.js";
import { parseDuration } from "../../core/exec-wrap.js";
import { UserError } from "../../shared/errors.js";
import type { OptionSpec } from "../command.js";
import { printJson, type CliIO } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";

export interface ExecFlags extends FormatFlags {
  workdir?: string;
  cwd?: string;
  env: string[];
  timeout?: string;
  session?: string;
  user?: string;
}

/**
 * What the native launcher does with an option: fills it into the recipe itself (env, workdir,
 * cwd), passes over it (skip: --cloud-url, which means nothing to a local sandbox), or hands the
 * whole command to the Node CLI (node), which then answers as if the launcher were not there.
 */
export type LauncherRole = "env" | "workdir" | "cwd" | "skip" | "node";

export interface ExecOptionSpec extends OptionSpec {
  launcher: LauncherRole;
}

export const EXEC_OPTIONS: ExecOptionSpec[] = [
  { flags: "-w, --workdir <dir>", description: "working folder inside (default /workspace)", launcher: "workdir" },
  { flags: "--cwd <dir>", description: "the same as --workdir", launcher: "cwd" },
  { flags: "-e, --env <KEY=VALUE>", description: "an environment variable for the command (repeatable)", repeatable: true, launcher: "env" },
  { flags: "-u, --user <user>", description: "run the command as this user of the sandbox (a name or a uid)", launcher: "node" },
  { flags: "--timeout <duration>", description: "end the command after this long (30s, 5m, 500ms), exit 124", launcher: "node" },
  { flags: "--session <name>", description: "a named shell session: its folder and exported variables carry over between calls", launcher: "node" },
  ...FORMAT_OPTIONS.map((option): ExecOptionSpec => ({ ...option, launcher: "node" })),
];

/**
 * `--cloud-url URL`, every command's (main.ts takeCloudUrl takes it out of argv, among exec's
 * options too, before commander sees them): in the launcher's table so that it passes over it.
 */
export const EXEC_CLOUD_URL_OPTION: ExecOptionSpec = { flags: "--cloud-url <url>", description: "the cloud's address (every command takes it)", launcher: "skip" };

/** KEY=VALUE pairs from repeated --env flags. */
export function parseEnvPairs(pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UserError(`--env takes KEY=VALUE, not "${pair}"`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

export function execRequest(flags: ExecFlags): ExecRequest {
  return {
    cwd: flags.cwd ?? flags.workdir,
    env: parseEnvPairs(flags.env),
    timeoutMs: flags.timeout === undefined ? undefined : parseDuration(flags.timeout),
    session: flags.session,
    user: flags.user,
    capture: wantsJson(flags),
  };
}

/** Prints what exec's result says and gives the exit code to end with. */
export function reportExec(io: CliIO, flags: ExecFlags, result: ExecResult): number {
  const exitCode = result.timedOut ? 124 : result.exitCode;
  if (wantsJson(flags)) {
    printJson(io, { exit_code: exitCode, stdout: result.stdout ?? "", stderr: result.stderr ?? "", timed_out: result.timedOut });
    return exitCode;
  }
  if (result.stdout !== undefined) io.stdout.write(result.stdout);
  if (result.stderr !== undefined) io.stderr.write(result.stderr);
  if (result.timedOut) io.stderr.write(`heyvm: the command was ended after --timeout ${flags.timeout ?? ""}\n`);
  return exitCode;
}

interface OptionShape {
  key: keyof ExecFlags;
  takesValue: boolean;
  repeatable: boolean;
  choices?: readonly string[];
  /** --cloud-url: taken with its value and passed over (main.ts takeCloudUrl's, not exec's). */
  skip: boolean;
}

/** "-w, --workdir <dir>" → its names and the flag key commander would give it; --cloud-url too. */
function shapes(): Map<string, OptionShape> {
  const byName = new Map<string, OptionShape>();
  for (const spec of [...EXEC_OPTIONS, EXEC_CLOUD_URL_OPTION]) {
    const names = spec.flags.split(/[ ,]+/).filter((word) => word.startsWith("-"));
    const long = names.find((name) => name.startsWith("--")) ?? "";
    const key = long.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof ExecFlags;
    const shape = { key, takesValue: spec.flags.includes("<"), repeatable: spec.repeatable === true, choices: spec.choices, skip: spec.launcher === "skip" };
    for (const name of names) byName.set(name, shape);
  }
  return byName;
}

/** Whether an option word is one that takes the next word as its value. */
export function takesValue(word: string | undefined): boolean {
  return word !== undefined && shapes().get(word)?.takesValue === true;
}

/**
 * Reads exec's options from words without commander, for the fast path: undefined for anything
 * it does not know exactly (an unknown option, a bad choice, `--opt=value`), which then goes to
 * the full CLI and its messages. `--cloud-url URL` is passed over: it means nothing to a local
 * sandbox, the only kind the fast path answers.
 */
export function readExecOptions(words: readonly string[], flags: ExecFlags = { env: [] }): ExecFlags | undefined {
  const known = shapes();
  const read: Record<string, unknown> = { ...flags, env: [...flags.env] };
  for (let i = 0; i < words.length; i++) {
    const shape = known.get(words[i] ?? "");
    if (!shape) return undefined;
    if (!shape.takesValue) {
      read[shape.key] = true;
      continue;
    }
    const value = words[i + 1];
    if (value === undefined || (shape.choices && !shape.choices.includes(value))) return undefined;
    i += 1;
    if (shape.skip) continue;
    if (shape.repeatable) (read[shape.key] as string[]).push(value);
    else read[shape.key] = value;
  }
  return read as unknown as ExecFlags;
}
