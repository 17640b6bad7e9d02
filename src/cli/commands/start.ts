// `heyvm start <id>`: boot a stopped sandbox again from its record (same id, worktree, disk).
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print, printJson, stderrReporter } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";

export const startCommand = defineCommand<FormatFlags & { quiet?: boolean }>({
  name: "start",
  description: "boot a stopped sandbox again from its record (same id, same worktree, same disk)",
  arguments: [{ name: "<id>", description: "sandbox id, unique id prefix, name or branch" }],
  options: [...FORMAT_OPTIONS, { flags: "-q, --quiet", description: "no progress messages" }],
  async run({ io, args: [id], flags }) {
    const { startSandbox } = await import("../../core/lifecycle.js");
    const info = await startSandbox(heyoHome(), String(id), stderrReporter(io, flags.quiet || wantsJson(flags)));
    if (wantsJson(flags)) printJson(io, info);
    else print(io, `ID: ${info.id}`);
  },
});
