// `heyvm get <id>`: one sandbox as data (guest IP, ssh endpoint, ports), local or cloud.
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print, printJson } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";

export const getCommand = defineCommand<FormatFlags>({
  name: "get",
  description: "show one sandbox: status, backend, worktree, guest IP, ssh endpoint, ports, limits",
  arguments: [{ name: "<id>", description: "sandbox id, unique id prefix, name or branch (or dep-… for cloud)" }],
  options: FORMAT_OPTIONS,
  async run({ io, args: [id], flags }) {
    const [{ resolveTarget }, { targetKind }] = await Promise.all([import("../../core/targets/index.js"), import("../../core/targets/kind.js")]);
    const query = String(id);
    let info: object = await (await resolveTarget(heyoHome(), query)).describe();
    if (targetKind(query) === "local") {
      // what `bind` exposed and what was forwarded at boot, each {port, host_port, url, private, via, active}
      const [{ resolveSandbox }, { portBindings }] = await Promise.all([import("../../core/catalog.js"), import("../../core/port-binds.js")]);
      info = { ...info, ports: await portBindings(resolveSandbox(heyoHome(), query)) };
    }
    if (wantsJson(flags)) return printJson(io, info);
    const lines = Object.entries(info).map(([key, value]) => `${`${key}:`.padEnd(14)} ${typeof value === "object" && value !== null ? JSON.stringify(value) : String(value ?? "-")}`);
    print(io, lines.join("\n"));
  },
});
