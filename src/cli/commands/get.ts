// `heyvm get <id>`: one sandbox as data (guest IP, ssh endpoint, ports), local or cloud.
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print, printJson } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";

export const getCommand = defineCommand<FormatFlags>({
  name: "get",
  description: "show one sandbox: status, backend, worktree, guest IP, ssh endpoint, ports, limits",
  arguments: [{ name: "<id>", description: "sandbox id, unique id prefix, name or branch (or dep-… for cloud)" }],
  options: FORMAT_OPTIONS,
  async run({ io, args: [id], flags }) {
    const { resolveTarget } = await import("../../core/targets/index.js");
    const info = await (await resolveTarget(heyoHome(), String(id))).describe();
    if (wantsJson(flags)) return printJson(io, info);
    const lines = Object.entries(info).map(([key, value]) => `${`${key}:`.padEnd(14)} ${typeof value === "object" && value !== null ? JSON.stringify(value) : String(value ?? "-")}`);
    print(io, lines.join("\n"));
  },
});
