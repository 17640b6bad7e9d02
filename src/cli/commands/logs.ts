// `heyvm logs <id> [-f]`: the owner's log (local) or the cloud sandbox's log.
import { UserError } from "../../shared/errors.js";
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";

export const logsCommand = defineCommand<{ follow?: boolean; lines: string }>({
  name: "logs",
  description: "show a sandbox's owner log (~/.heyo/sandboxes/<id>/owner.log)",
  arguments: [{ name: "<id>", description: "sandbox id, unique id prefix, wt-<slug> name or branch name (or dep-… for cloud)" }],
  options: [
    { flags: "-f, --follow", description: "keep printing new lines until the sandbox stops" },
    { flags: "-n, --lines <count>", description: "start with the last <count> lines (0 = all)", default: "200" },
  ],
  async run({ io, args: [id], flags }) {
    const lines = Number(flags.lines);
    if (!Number.isInteger(lines) || lines < 0) throw new UserError(`--lines takes a whole number, not "${flags.lines}"`);
    const { resolveTarget } = await import("../../core/targets/index.js");
    const target = await resolveTarget(heyoHome(), String(id));
    for await (const chunk of target.logs({ follow: flags.follow ?? false, lines })) io.stdout.write(chunk);
  },
});
