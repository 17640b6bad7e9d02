// `heyvm __git_sync <id>` (hidden): carries commits between a sandbox's git store and the host's
// branch (core/git-sync.ts). Its owner runs it when either branch moves, and now and then.
import { defineCommand } from "../command.js";
import { gitSync } from "../internal-commands.js";

export const gitSyncCommand = defineCommand({
  name: "__git_sync",
  description: "carry commits between a sandbox's git store and the host's branch (run by its owner)",
  hidden: true,
  arguments: [{ name: "<id>", description: "sandbox id" }],
  run: ({ args: [id] }) => gitSync(String(id)),
});
