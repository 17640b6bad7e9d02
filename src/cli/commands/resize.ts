// `heyvm resize <id> --size-class C | --cpus N --memory M`: a sandbox's CPUs and memory; a VM
// takes them at its next start, a running bubblewrap sandbox's cgroup at once (said which).
import { UserError } from "../../shared/errors.js";
import { isCloudId } from "../../shared/ids.js";
import { heyoHome } from "../../state/home.js";
import { cloudClientFor } from "../cloud-client.js";
import { defineCommand } from "../command.js";
import { print, printJson } from "../io.js";
import { parseMachineSize } from "../machine-size-options.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";

interface ResizeFlags extends FormatFlags {
  sizeClass?: string;
  cpus?: string;
  memory?: string;
}

const SIZE_CLASS_CHOICES = ["micro", "mini", "small", "medium", "large", "xlarge"];

export const resizeCommand = defineCommand<ResizeFlags>({
  name: "resize",
  description: "change a sandbox's CPUs and memory (VMs: at the next start; bubblewrap: at once)",
  arguments: [{ name: "<id>", description: "a local sandbox (id, prefix, name or branch) or a cloud one (dep-…)" }],
  options: [
    { flags: "--size-class <class>", description: "micro (1 cpu, 512M), mini (1, 1G), small (2, 2G), medium (4, 4G), large (8, 8G), xlarge (16, 16G)", choices: SIZE_CLASS_CHOICES },
    { flags: "--cpus <n>", description: "CPUs (VM vCPUs, or bubblewrap's cores of CPU time)" },
    { flags: "--memory <size>", description: "memory: MiB or with a unit (512M, 2G)" },
    ...FORMAT_OPTIONS,
  ],
  async run({ io, args: [id], flags }) {
    const { isSizeClassName } = await import("../../core/size-class.js");
    const sizeClass = flags.sizeClass !== undefined && isSizeClassName(flags.sizeClass) ? flags.sizeClass : undefined;
    const size = parseMachineSize({ cpus: flags.cpus, memory: flags.memory });
    const home = heyoHome();
    if (isCloudId(String(id))) {
      if (!sizeClass || size.cpus !== undefined || size.memoryMiB !== undefined) throw new UserError("a cloud sandbox is resized by --size-class only", { hint: `heyvm resize ${String(id)} --size-class medium` });
      const deployment = await (await cloudClientFor(home)).resize(String(id), { size_class: sizeClass });
      if (wantsJson(flags)) return printJson(io, { id: deployment.id, size_class: deployment.size_class, status: deployment.status });
      return print(io, `${deployment.id} is ${deployment.size_class} now (a VM sandbox takes it at its next start)`);
    }
    const { resizeSandbox } = await import("../../core/resize.js");
    const result = await resizeSandbox(home, String(id), { sizeClass, ...size });
    if (wantsJson(flags)) return printJson(io, result);
    print(io, `${result.id}: ${result.cpus} cpus, ${result.memory_mib} MiB, ${result.applied === "now" ? "in force now" : "from its next start"}${result.notes.length ? `\n  ${result.notes.join("\n  ")}` : ""}`);
  },
});
