// `heyvm unbind <id> <port>`: undo a bind (local relay ended, or the cloud's endpoint removed).
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print, printJson } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";
import { idAndPortArguments, parsePortNumber } from "./bind.js";

export const unbindCommand = defineCommand<FormatFlags>({
  name: "unbind",
  description: "stop exposing a port that `heyvm bind` exposed",
  arguments: idAndPortArguments(true),
  options: FORMAT_OPTIONS,
  async run({ io, args: [id, portText], flags }) {
    const port = parsePortNumber(String(portText), "unbind");
    const query = String(id);
    const { targetKind } = await import("../../core/targets/kind.js");
    let result: { port: number; host_port: number | null };
    if (targetKind(query) === "cloud") {
      result = await (await import("../../core/cloud-sandboxes.js")).unbindCloudPort(heyoHome(), query, port);
    } else {
      const [{ resolveSandbox }, { unbindPort }] = await Promise.all([import("../../core/catalog.js"), import("../../core/port-binds.js")]);
      const home = heyoHome();
      result = await unbindPort(home, resolveSandbox(home, query), port);
    }
    if (wantsJson(flags)) printJson(io, result);
    else print(io, `unbound port ${port} of ${query}`);
  },
});
