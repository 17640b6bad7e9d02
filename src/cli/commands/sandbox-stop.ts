// `heyvm __sandbox_stop <id> [--ended]` (hidden): the graceful shutdown the native owner monitor
// runs on a stop request, or with --ended the clean-up after a machine that ended on its own.
import { defineCommand } from "../command.js";
import { sandboxStop } from "../internal-commands.js";

export const sandboxStopCommand = defineCommand<{ ended?: boolean; gitSynced?: boolean }>({
  name: "__sandbox_stop",
  description: "shut a sandbox's machine down gracefully (run by its owner monitor)",
  hidden: true,
  arguments: [{ name: "<id>", description: "sandbox id" }],
  options: [
    { flags: "--ended", description: "the machine ended on its own: only remove what it left on the host" },
    { flags: "--git-synced", description: "nothing the git sync reads changed since its last run: leave it out" },
  ],
  run: ({ args: [id], flags }) => sandboxStop(String(id), { ended: flags.ended === true, gitSynced: flags.gitSynced === true }),
});
