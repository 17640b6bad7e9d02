// `heyvm __sandbox_owner <id>` (hidden): the owner process of one sandbox, started by wt/start.
import { defineCommand } from "../command.js";
import { sandboxOwner } from "../internal-commands.js";

export const sandboxOwnerCommand = defineCommand<{ attached?: boolean }>({
  name: "__sandbox_owner",
  description: "run the owner process of a sandbox (started by heyvm itself)",
  hidden: true,
  arguments: [{ name: "<id>", description: "sandbox id" }],
  options: [{ flags: "--attached", description: "stop when stdin closes", hidden: true }],
  run: ({ args: [id], flags }) => sandboxOwner(String(id), flags.attached === true),
});
