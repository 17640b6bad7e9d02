// `heyvm snapshot <id> --name N`: a VM sandbox's disk as a reusable local image.
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print, printJson, stderrReporter } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";

interface SnapshotFlags extends FormatFlags {
  name: string;
  restart: boolean;
  quiet?: boolean;
}

export const snapshotCommand = defineCommand<SnapshotFlags>({
  name: "snapshot",
  description: "make a VM sandbox's disk a reusable local image (images list shows it; wt/create --image start from it)",
  arguments: [{ name: "<id>", description: "sandbox id, unique id prefix, name or branch" }],
  options: [
    { flags: "--name <name>", description: "the new image's name (required)" },
    { flags: "--no-restart", description: "leave a running sandbox stopped afterwards (it is stopped for a consistent disk)" },
    ...FORMAT_OPTIONS,
    { flags: "-q, --quiet", description: "no progress messages" },
  ],
  helpAfter: "\nExamples:\n  heyvm snapshot sb-1a2b3c4d --name with-deps\n  heyvm wt feature/y --image with-deps --backend libvirt",
  async run({ io, args: [id], flags }) {
    const { UserError } = await import("../../shared/errors.js");
    if (!flags.name) throw new UserError("--name is needed: the new image's name", { hint: "heyvm snapshot <id> --name <image>" });
    const { snapshotSandbox } = await import("../../core/snapshot.js");
    const json = wantsJson(flags);
    const result = await snapshotSandbox(heyoHome(), { query: String(id), name: flags.name, noRestart: flags.restart === false }, stderrReporter(io, flags.quiet || json));
    if (json) return printJson(io, result);
    print(io, `image ${result.name} (${result.backend}) from ${result.sandbox_id}: ${result.path}; ${result.sandbox_id} is ${result.sandbox_status}`);
  },
});
