// `heyvm session reset <id> <name>`: forget a named exec session (exec --session): its folder
// and exported variables start afresh.
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print, printJson } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";

const resetSessionCommand = defineCommand<FormatFlags>({
  name: "reset",
  description: "forget a named session's folder and variables (the next exec --session NAME starts in /workspace)",
  arguments: [
    { name: "<id>", description: "a running sandbox (local, or dep-… for cloud)" },
    { name: "<name>", description: "the session's name" },
  ],
  options: FORMAT_OPTIONS,
  async run({ io, args: [id, name], flags }) {
    const { resetSession } = await import("../../core/session.js");
    const result = await resetSession(heyoHome(), String(id), String(name));
    if (wantsJson(flags)) return printJson(io, result);
    print(io, result.existed ? `session ${result.session} of ${result.id} reset` : `${result.id} had no session ${result.session}: nothing to reset`);
  },
});

export const sessionCommand = defineCommand({
  name: "session",
  description: "named exec sessions (exec --session NAME): reset",
  subcommands: [resetSessionCommand],
});
