// `heyvm stop <id>`: stop a sandbox, local or cloud; stopping a stopped one is not an error.
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print, printJson } from "../io.js";

export const stopCommand = defineCommand<{ json?: boolean }>({
  name: "stop",
  description: "stop a sandbox (detached or attached); stopping a stopped one is not an error",
  arguments: [{ name: "<id>", description: "sandbox id, unique id prefix, wt-<slug> name or branch name (or dep-… for cloud)" }],
  options: [{ flags: "--json", description: "print the result as JSON" }],
  async run({ io, args: [id], flags }) {
    const { resolveTarget } = await import("../../core/targets/index.js");
    const result = await (await resolveTarget(heyoHome(), String(id))).stop();
    if (flags.json) printJson(io, result);
    else print(io, result.wasRunning ? `stopped ${result.id} (${result.name})` : `${result.id} (${result.name}) was not running`);
  },
});
