// `heyvm stop <id>`: stop a sandbox, local or cloud; stopping a stopped one is not an error.
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print, printJson } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";

export const stopCommand = defineCommand<FormatFlags>({
  name: "stop",
  description: "stop a sandbox (detached or attached); stopping a stopped one is not an error",
  arguments: [{ name: "<id>", description: "sandbox id, unique id prefix, wt-<slug> name or branch name (or dep-… for cloud)" }],
  options: FORMAT_OPTIONS,
  async run({ io, args: [id], flags }) {
    const { resolveTarget } = await import("../../core/targets/index.js");
    const result = await (await resolveTarget(heyoHome(), String(id))).stop();
    if (wantsJson(flags)) printJson(io, { id: result.id, name: result.name, was_running: result.wasRunning, ...(result.cleaned ? { cleaned: result.cleaned } : {}), ...(result.status ? { status: result.status } : {}) });
    else print(io, result.wasRunning ? `stopped ${result.id} (${result.name})` : `${result.id} (${result.name}) was not running`);
  },
});
