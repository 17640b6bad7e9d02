// `heyvm __git_sync <id>` (hidden): carries commits between a sandbox's git store and the host's
// branch (core/git-sync.ts). Its owner runs it when either branch moves, and now and then.
import { ExitCode } from "../../shared/errors.js";
import { defineCommand } from "../command.js";

export const gitSyncCommand = defineCommand({
  name: "__git_sync",
  description: "carry commits between a sandbox's git store and the host's branch (run by its owner)",
  hidden: true,
  arguments: [{ name: "<id>", description: "sandbox id" }],
  async run({ args: [id] }) {
    const { runGitSync } = await import("../../core/git-sync.js");
    return (await runGitSync(String(id))) ? 0 : ExitCode.failed;
  },
});
