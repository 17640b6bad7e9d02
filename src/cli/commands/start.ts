// `heyvm start <id>`: boot a stopped sandbox again from its record (same id, worktree, disk).
import type { SandboxInfo } from "../../core/sandbox-info.js";
import type { Deployment } from "../../cloud/schema.js";
import type { Reporter } from "../../shared/reporter.js";
import { heyoHome, type HeyoHome } from "../../state/home.js";
import { defineCommand, type CommandSpec, type OptionSpec } from "../command.js";
import { print, printJson, stderrReporter } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";

type BootFlags = FormatFlags & { quiet?: boolean };

const BOOT_OPTIONS: OptionSpec[] = [...FORMAT_OPTIONS, { flags: "-q, --quiet", description: "no progress messages" }];

/** start and restart: the same arguments, options and output around another use case (a dep-… id goes to the cloud's). */
export function bootCommand(
  name: string,
  description: string,
  boot: (home: HeyoHome, query: string, reporter: Reporter) => Promise<SandboxInfo>,
  bootCloud: (home: HeyoHome, id: string) => Promise<Deployment>,
): CommandSpec<never> {
  return defineCommand<BootFlags>({
    name,
    description,
    arguments: [{ name: "<id>", description: "sandbox id, unique id prefix, name or branch (or dep-… for cloud)" }],
    options: BOOT_OPTIONS,
    async run({ io, args: [id], flags }) {
      const { targetKind } = await import("../../core/targets/kind.js");
      const query = String(id);
      const info = targetKind(query) === "cloud" ? await bootCloud(heyoHome(), query) : await boot(heyoHome(), query, stderrReporter(io, flags.quiet || wantsJson(flags)));
      if (wantsJson(flags)) printJson(io, info);
      else print(io, `ID: ${info.id}`);
    },
  });
}

export const startCommand = bootCommand(
  "start",
  "boot a stopped sandbox again from its record (same id, same worktree, same disk)",
  async (home, query, reporter) => (await import("../../core/lifecycle.js")).startSandbox(home, query, reporter),
  async (home, id) => (await import("../../core/cloud-sandboxes.js")).startCloudSandbox(home, id),
);
