// `heyvm list`: local sandboxes with their derived status, and a configured cloud's beside them
// (--local / --cloud to see one side; --cloud keeps its own table and JSON shape).
import { UserError } from "../../shared/errors.js";
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print, printJson } from "../io.js";
import { printList } from "../list-output.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";
import { formatDuration, table } from "../render.js";

interface ListFlags extends FormatFlags {
  all?: boolean;
  stopped?: boolean;
  cloud?: boolean;
  local?: boolean;
  wt?: boolean;
}

export const listCommand = defineCommand<ListFlags>({
  name: "list",
  description: "list sandboxes across backends (running ones unless --all), and a configured cloud's beside them",
  options: [
    { flags: "-a, --all", description: "include stopped sandboxes" },
    { flags: "--stopped", description: "only stopped sandboxes" },
    { flags: "--local", description: "only local sandboxes" },
    { flags: "--cloud", description: "only cloud sandboxes (the cloud's own columns)" },
    ...FORMAT_OPTIONS,
    { flags: "--wt", description: "only wt-* sandboxes", hidden: true },
  ],
  helpAfter: "\nWith a cloud configured (`heyvm login`), its sandboxes are listed too: a LOCATION column, a `location` field (local or cloud) under --format json.",
  async run({ io, flags }) {
    if (flags.cloud && flags.local) throw new UserError("--cloud and --local contradict each other", { hint: "leave both out to see both" });
    if (!flags.cloud) return printList(io, { all: flags.all ?? false, stopped: flags.stopped, wtOnly: flags.wt ?? false, json: wantsJson(flags), where: flags.local ? "local" : "both" });
    const [{ listCloudSandboxes }, { isActiveDeployment }] = await Promise.all([import("../../core/targets/cloud.js"), import("../../cloud/schema.js")]);
    // as the local list: running (and provisioning) ones unless --all; --stopped the others
    const rows = (await listCloudSandboxes(heyoHome())).filter((row) => (flags.stopped ? !isActiveDeployment(row.status) : flags.all === true || isActiveDeployment(row.status)));
    if (wantsJson(flags)) return printJson(io, rows);
    if (rows.length === 0) return print(io, flags.stopped ? "no stopped cloud sandboxes" : flags.all ? "no cloud sandboxes" : "no running cloud sandboxes (use --all to include stopped ones)");
    print(
      io,
      table(
        ["ID", "NAME", "STATE", "DRIVER", "IMAGE", "REGION", "UPTIME", "TTL", "URLS / ERROR"],
        rows.map((r) => [r.id, r.name, r.status, r.driver ?? "-", r.image, r.region, formatDuration(r.uptime_secs), r.ttl_seconds ? `${r.ttl_seconds}s` : "-", r.urls.map((u) => u.url).join(" ") || r.error_message || ""]),
      ),
    );
  },
});
