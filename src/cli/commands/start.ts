// `heyvm start <id>`: boot a stopped sandbox again from its record (same id, worktree, disk).
import type { SandboxInfo } from "../../core/sandbox-info.js";
import type { Reporter } from "../../shared/reporter.js";
import { heyoHome, type HeyoHome } from "../../state/home.js";
import { defineCommand, type CommandSpec, type OptionSpec } from "../command.js";
import { print, printJson, stderrReporter } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";

type BootFlags = FormatFlags & { quiet?: boolean };

const BOOT_OPTIONS: OptionSpec[] = [...FORMAT_OPTIONS, { flags: "-q, --quiet", description: "no progress messages" }];

/** start and restart: the same arguments, options and output around another use case. */
export function bootCommand(name: string, description: string, boot: (home: HeyoHome, query: string, reporter: Reporter) => Promise<SandboxInfo>): CommandSpec<never> {
  return defineCommand<BootFlags>({
    name,
    description,
    arguments: [{ name: "<id>", description: "sandbox id, unique id prefix, name or branch" }],
    options: BOOT_OPTIONS,
    async run({ io, args: [id], flags }) {
      const info = await boot(heyoHome(), String(id), stderrReporter(io, flags.quiet || wantsJson(flags)));
      if (wantsJson(flags)) printJson(io, info);
      else print(io, `ID: ${info.id}`);
    },
  });
}

export const startCommand = bootCommand("start", "boot a stopped sandbox again from its record (same id, same worktree, same disk)", async (home, query, reporter) =>
  (await import("../../core/lifecycle.js")).startSandbox(home, query, reporter),
);
