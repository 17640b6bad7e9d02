// `heyvm __sandbox_stop <id>` (hidden): the graceful shutdown the native owner monitor runs.
import { defineCommand } from "../command.js";

export const sandboxStopCommand = defineCommand({
  name: "__sandbox_stop",
  description: "shut a sandbox's machine down gracefully (run by its owner monitor)",
  hidden: true,
  arguments: [{ name: "<id>", description: "sandbox id" }],
  async run({ args: [id] }) {
    const { runStopCommand } = await import("../../owner/stop-command.js");
    return runStopCommand(String(id));
  },
});
