// `heyvm exec <id> [options] -- <cmd…>`: run a command in a running sandbox, stdio and exit
// code kept. Options may stand before the id or between it and `--`; without `--`, everything
// after the id is the command.
import { UserError } from "../../shared/errors.js";
import { heyoHome } from "../../state/home.js";
import { defineCommand, parseOptionWords } from "../command.js";
import { wantsJson } from "../output-format.js";
import { reportError } from "../report-error.js";
import { EXEC_OPTIONS, execRequest, reportExec, type ExecFlags } from "./exec-options.js";

export { parseEnvPairs } from "./exec-options.js";




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
    try {
      if (command.length === 0) throw new UserError("no command given", { hint: "usage: heyvm exec <id> [options] -- <command> [args…]" });
      const { resolveTarget } = await import("../../core/targets/index.js");
      const target = await resolveTarget(heyoHome(), String(id));
      return reportExec(io, flags, await target.exec(command, execRequest(flags)));
    } catch (error) {
      // --format json between the id and `--` is seen only here (the command's own handler sees the options before the id)
      if (wantsJson(flags) && !wantsJson(before)) return reportError(io, error, { json: true });
      throw error;
    }
  },
});
