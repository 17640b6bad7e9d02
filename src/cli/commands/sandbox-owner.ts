// `heyvm __sandbox_owner <id>` (hidden): the owner process of one sandbox, started by wt/start.
import { defineCommand } from "../command.js";

export const sandboxOwnerCommand = defineCommand<{ attached?: boolean }>({
  name: "__sandbox_owner",
  description: "run the owner process of a sandbox (started by heyvm itself)",
  hidden: true,
  arguments: [{ name: "<id>", description: "sandbox id" }],
  options: [{ flags: "--attached", description: "stop when stdin closes", hidden: true }],
  async run({ args: [id], flags }) {
    const [{ runOwner }, { writeLaunchRecord }] = await Promise.all([import("../../owner/main.js"), import("../../core/launch-record.js")]);
    // once ready, the owner writes what the native launcher needs to answer exec and list
    return runOwner(String(id), flags.attached ? "attached" : "detached", writeLaunchRecord);
  },
});
