// `heyvm list`: local sandboxes with their derived status (or the cloud's with --cloud).
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print, printJson } from "../io.js";
import { printList } from "../list-output.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";
import { formatDuration, table } from "../render.js";

interface ListFlags extends FormatFlags {
  all?: boolean;
  cloud?: boolean;
  wt?: boolean;
}

export const listCommand = defineCommand<ListFlags>({
  name: "list",
  description: "list sandboxes across backends (running ones unless --all)",
  options: [
    { flags: "-a, --all", description: "include stopped sandboxes" },
    { flags: "--cloud", description: "list cloud sandboxes instead" },
    ...FORMAT_OPTIONS,
    { flags: "--wt", description: "only wt-* sandboxes", hidden: true },
  ],
  async run({ io, flags }) {
    if (!flags.cloud) return printList(io, { all: flags.all ?? false, wtOnly: flags.wt ?? false, json: wantsJson(flags) });
    const [{ listCloudSandboxes }, { isActiveDeployment }] = await Promise.all([import("../../core/targets/cloud.js"), import("../../cloud/schema.js")]);
    // as the local list: running (and provisioning) ones unless --all
    const rows = (await listCloudSandboxes(heyoHome())).filter((row) => flags.all === true || isActiveDeployment(row.status));
    if (wantsJson(flags)) return printJson(io, rows);
    if (rows.length === 0) return print(io, flags.all ? "no cloud sandboxes" : "no running cloud sandboxes (use --all to include stopped ones)");
    print(
      io,
      table(
        ["ID", "NAME", "STATE", "DRIVER", "IMAGE", "REGION", "UPTIME", "TTL", "URLS / ERROR"],
        rows.map((r) => [r.id, r.name, r.status, r.driver ?? "-", r.image, r.region, formatDuration(r.uptime_secs), r.ttl_seconds ? `${r.ttl_seconds}s` : "-", r.urls.map((u) => u.url).join(" ") || r.error_message || ""]),
      ),
    );
  },
});
