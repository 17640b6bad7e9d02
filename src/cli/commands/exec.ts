// `heyvm exec <id> [options] -- <cmd…>`: run a command in a running sandbox, stdio and exit
// code kept. Options may stand before the id or between it and `--`; without `--`, everything
// after the id is the command.
import { parseDuration } from "../../core/exec-wrap.js";
import { UserError } from "../../shared/errors.js";
import { heyoHome } from "../../state/home.js";
import { defineCommand, parseOptionWords, type OptionSpec } from "../command.js";
import { printJson } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";

interface ExecFlags extends FormatFlags {
  workdir?: string;
  cwd?: string;
  env: string[];
  timeout?: string;
  session?: string;
}

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

const EXEC_OPTIONS: OptionSpec[] = [
  { flags: "-w, --workdir <dir>", description: "working folder inside (default /workspace)" },
  { flags: "--cwd <dir>", description: "the same as --workdir" },
  { flags: "-e, --env <KEY=VALUE>", description: "an environment variable for the command (repeatable)", repeatable: true },
  { flags: "--timeout <duration>", description: "end the command after this long (30s, 5m, 500ms), exit 124" },
  { flags: "--session <name>", description: "a named shell session: its folder and exported variables carry over between calls" },
  ...FORMAT_OPTIONS,
];

/** The flags given before the id merged with those between the id and `--`. */
function mergeFlags(before: ExecFlags, between: ExecFlags): ExecFlags {
  return { ...before, ...Object.fromEntries(Object.entries(between).filter(([, v]) => v !== undefined)), env: [...before.env, ...between.env] };
}

export const execCommand = defineCommand<ExecFlags>({
  name: "exec",
  description: "run a command in /workspace of a running sandbox; stdin, stdout, stderr and the exit code pass through",
  arguments: [
    { name: "<id>", description: "sandbox id, unique id prefix, wt-<slug> name or branch name (or dep-… for cloud)" },
    { name: "<command...>", description: "the command and its arguments (options may come before a --)" },
  ],
  options: EXEC_OPTIONS,
  helpAfter: "\nExamples:\n  heyvm exec feature/x -- git status\n  heyvm exec sb-1a2b3c4d --format json --timeout 30s -- make test\n  heyvm exec sb-1a2b3c4d --session build -- cd src   (then: --session build -- pwd)",
  passThroughOptions: true,
  async run({ io, args: [id, words], flags: before }) {
    const list = Array.isArray(words) ? words : [];
    const separator = list.indexOf("--");
    const flags = separator >= 0 ? mergeFlags(before, parseOptionWords<ExecFlags>(EXEC_OPTIONS, list.slice(0, separator))) : before;
    const command = separator >= 0 ? list.slice(separator + 1) : list;
    if (command.length === 0) throw new UserError("no command given", { hint: "usage: heyvm exec <id> [options] -- <command> [args…]" });
    const timeoutMs = flags.timeout === undefined ? undefined : parseDuration(flags.timeout);
    const json = wantsJson(flags);
    const { resolveTarget } = await import("../../core/targets/index.js");
    const target = await resolveTarget(heyoHome(), String(id));
    const result = await target.exec(command, { cwd: flags.cwd ?? flags.workdir, env: parseEnvPairs(flags.env), timeoutMs, session: flags.session, capture: json });
    if (json) {
      printJson(io, { exit_code: result.timedOut ? 124 : result.exitCode, stdout: result.stdout ?? "", stderr: result.stderr ?? "", timed_out: result.timedOut });
    } else {
      if (result.stdout !== undefined) io.stdout.write(result.stdout);
      if (result.stderr !== undefined) io.stderr.write(result.stderr);
      if (result.timedOut) io.stderr.write(`heyvm: the command was ended after --timeout ${flags.timeout ?? ""}\n`);
    }
    return result.timedOut ? 124 : result.exitCode;
  },
});
