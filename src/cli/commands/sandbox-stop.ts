// `heyvm __sandbox_stop <id> [--ended]` (hidden): the graceful shutdown the native owner monitor
// runs on a stop request, or with --ended the clean-up after a machine that ended on its own.
import { ExitCode } from "../../shared/errors.js";
import { defineCommand } from "../command.js";

export const sandboxStopCommand = defineCommand<{ ended?: boolean }>({
  name: "__sandbox_stop",
  description: "shut a sandbox's machine down gracefully (run by its owner monitor)",
  hidden: true,
  arguments: [{ name: "<id>", description: "sandbox id" }],
  options: [{ flags: "--ended", description: "the machine ended on its own: only remove what it left on the host" }],
  async run({ args: [id], flags }) {
    const [{ runStopCommand }, { runGitSync }] = await Promise.all([import("../../owner/stop-command.js"), import("../../core/git-sync.js")]);
    const outcome = await runStopCommand(String(id), flags.ended === true);
    await runGitSync(String(id)); // the sandbox's last commits, once its processes have ended
    // not graceful: the monitor, seeing a failed stop command, ends the machine by force
    return outcome === "graceful" ? 0 : ExitCode.failed;
  },
});
