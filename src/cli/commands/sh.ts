// `heyvm sh <id>`: a shell in /workspace of a running sandbox, local or cloud.
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { processTerminal } from "../terminal.js";

export const shCommand = defineCommand<Record<string, never>>({
  name: "sh",
  description: "open a shell in /workspace of a running sandbox (local sb-… or cloud dep-…)",
  arguments: [{ name: "<id>", description: "sandbox id, unique id prefix, wt-<slug> name or branch name" }],
  async run({ io, args: [id] }) {
    const { resolveTarget } = await import("../../core/targets/index.js");
    const target = await resolveTarget(heyoHome(), String(id));
    return target.shell(processTerminal(io));
  },
});
