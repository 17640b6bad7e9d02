// `heyvm mount-add --id <id> --host-path H --sandbox-path S [--ro]`: a host folder added to a
// sandbox's mounts; the output says when it takes effect.
import { UserError } from "../../shared/errors.js";
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print, printJson } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";

interface MountAddFlags extends FormatFlags {
  id?: string;
  hostPath?: string;
  sandboxPath?: string;
  ro?: boolean;
}

export const mountAddCommand = defineCommand<MountAddFlags>({
  name: "mount-add",
  description: "add a host folder to a sandbox's mounts (in force from its next start)",
  options: [
    { flags: "--id <id>", description: "the sandbox (id, prefix, name or branch)" },
    { flags: "--host-path <dir>", description: "the host folder (not heyvm's state, not a .git)" },
    { flags: "--sandbox-path <path>", description: "where the sandbox sees it (VM sandboxes: under /workspace)" },
    { flags: "--ro", description: "read-only inside" },
    ...FORMAT_OPTIONS,
  ],
  helpAfter: "\nExample:\n  heyvm mount-add --id feature/x --host-path ~/datasets --sandbox-path /data --ro && heyvm restart feature/x",
  async run({ io, flags }) {
    if (!flags.id || !flags.hostPath || !flags.sandboxPath) throw new UserError("mount-add needs --id, --host-path and --sandbox-path", { hint: "heyvm mount-add --id <id> --host-path <dir> --sandbox-path <path> [--ro]" });
    const { addMount } = await import("../../core/mount-add.js");
    const result = await addMount(heyoHome(), flags.id, { hostPath: flags.hostPath, sandboxPath: flags.sandboxPath, readOnly: flags.ro === true });
    if (wantsJson(flags)) return printJson(io, result);
    const when = result.running ? `at its next start (a running sandbox cannot take a new mount: heyvm restart ${result.id})` : "at its next start";
    print(io, `${result.host_path} -> ${result.sandbox_path}${result.read_only ? " (read-only)" : ""} added to ${result.id}; in force ${when}`);
  },
});
