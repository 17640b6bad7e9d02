// `heyvm list-archives`: the archives this token has in the cloud's archive store.
import { heyoHome } from "../../state/home.js";
import { cloudClientFor } from "../cloud-client.js";
import { defineCommand } from "../command.js";
import { print, printJson } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";
import { age, formatBytes, table } from "../render.js";

export const listArchivesCommand = defineCommand<FormatFlags>({
  name: "list-archives",
  description: "list your archives in the cloud's archive store (id, name, size, source, age)",
  options: FORMAT_OPTIONS,
  async run({ io, flags }) {
    const archives = await (await cloudClientFor(heyoHome())).listArchives();
    if (wantsJson(flags)) return printJson(io, archives);
    if (archives.length === 0) return print(io, "no archives (make one with `heyvm archive <id|dir>`)");
    print(io, table(["ID", "NAME", "SIZE", "SOURCE", "AGE"], archives.map((a) => [a.id, a.name ?? "-", formatBytes(a.size_bytes), a.sandbox_id ?? "-", age(a.created_at)])));
  },
});
