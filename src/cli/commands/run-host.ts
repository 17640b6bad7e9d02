// `heyvm run-host <id> [--mount-path P] -- cmd…`: a command on the host, in the folder behind one
// of the sandbox's mounts (the worktree for /workspace), as the user running heyvm.
import { UserError } from "../../shared/errors.js";
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { printJson } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";

interface RunHostFlags extends FormatFlags {
  mountPath: string;
}

export const runHostCommand = defineCommand<RunHostFlags>({
  name: "run-host",
  description: "run a command on the host in the folder behind a sandbox's mount (the worktree for /workspace)",
  arguments: [
    { name: "<id>", description: "a local sandbox (id, prefix, name or branch)" },
    { name: "<command...>", description: "the command and its arguments, after --" },
  ],
  options: [{ flags: "--mount-path <path>", description: "which mount's host folder to run in", default: "/workspace" }, ...FORMAT_OPTIONS],
  helpAfter: "\nExamples:\n  heyvm run-host feature/x -- git log --oneline -3\n  heyvm run-host sb-1a2b3c4d --mount-path /data --format json -- ls",
  async run({ io, args: [id, words], flags }) {
    const command = Array.isArray(words) ? words : [];
    if (command.length === 0) throw new UserError("no command given", { hint: "usage: heyvm run-host <id> [--mount-path P] -- <command> [args…]" });
    const { runOnHost } = await import("../../core/run-host.js");
    const json = wantsJson(flags);
    const result = await runOnHost(heyoHome(), String(id), command, { mountPath: flags.mountPath, capture: json });
    if (json) printJson(io, result);
    return result.exit_code;
  },
});
