// `heyvm restart <id>`: stop a sandbox (if it runs) and boot it again from its record.
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print, printJson, stderrReporter } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";

export const restartCommand = defineCommand<FormatFlags & { quiet?: boolean }>({
  name: "restart",
  description: "stop a sandbox and boot it again from its record",
  arguments: [{ name: "<id>", description: "sandbox id, unique id prefix, name or branch" }],
  options: [...FORMAT_OPTIONS, { flags: "-q, --quiet", description: "no progress messages" }],
  async run({ io, args: [id], flags }) {
    const { restartSandbox } = await import("../../core/lifecycle.js");
    const info = await restartSandbox(heyoHome(), String(id), stderrReporter(io, flags.quiet || wantsJson(flags)));
    if (wantsJson(flags)) printJson(io, info);
    else print(io, `ID: ${info.id}`);
  },
});
