// `heyvm prune`: remove every stopped sandbox whose worktree no longer exists.
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print, printJson } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";

export const pruneCommand = defineCommand<FormatFlags>({
  name: "prune",
  description: "remove every stopped sandbox whose worktree no longer exists",
  options: FORMAT_OPTIONS,
  async run({ io, flags }) {
    const { pruneSandboxes } = await import("../../core/lifecycle.js");
    const removed = await pruneSandboxes(heyoHome());
    if (wantsJson(flags)) return printJson(io, removed.map((r) => ({ id: r.id, name: r.name })));
    print(io, removed.length === 0 ? "nothing to prune" : removed.map((r) => `removed ${r.id} (${r.name})`).join("\n"));
  },
});
