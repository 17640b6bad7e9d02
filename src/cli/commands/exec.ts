// `heyvm exec <id> -- <cmd…>`: run a command in a running sandbox, stdio and exit code kept.
import { UserError } from "../../shared/errors.js";
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";

interface ExecFlags {
  workdir?: string;
  env: string[];
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

export const execCommand = defineCommand<ExecFlags>({
  name: "exec",
  description: "run a command in /workspace of a running sandbox; stdin, stdout, stderr and the exit code pass through",
  arguments: [
    { name: "<id>", description: "sandbox id, unique id prefix, wt-<slug> name or branch name" },
    { name: "<command...>", description: "the command and its arguments (put -- before it)" },
  ],
  options: [
    { flags: "-w, --workdir <dir>", description: "working folder inside (default /workspace)" },
    { flags: "-e, --env <KEY=VALUE>", description: "an environment variable for the command (repeatable; before <id>)", repeatable: true },
  ],
  passThroughOptions: true,
  async run({ io, args: [id, words], flags }) {
    const list = Array.isArray(words) ? words : [];
    const command = list[0] === "--" ? list.slice(1) : list;
    if (command.length === 0) throw new UserError("no command given", { hint: "usage: heyvm exec <id> -- <command> [args…]" });
    const env = parseEnvPairs(flags.env);
    const { resolveTarget } = await import("../../core/targets/index.js");
    const target = await resolveTarget(heyoHome(), String(id));
    return target.exec(command, { cwd: flags.workdir, env }, io);
  },
});
