// Printing the sandbox list, shared by `heyvm list`, `heyvm wt --list` and the fast path: the
// local sandboxes, and beside them a configured cloud's (a LOCATION column, a `location` field).
import type { CloudListRow } from "../core/cloud-sandboxes.js";
import { heyoHome } from "../state/home.js";
import { print, printJson, type CliIO } from "./io.js";
import { age, table } from "./render.js";

export interface ListPrintOptions {
  all: boolean;
  wtOnly: boolean;
  json: boolean;
  /** Only stopped sandboxes. */
  stopped?: boolean;
  /** Which sandboxes: both (the cloud's only when one is configured), local only, cloud only. */
  where?: "both" | "local";
}

export async function printList(io: CliIO, options: ListPrintOptions): Promise<void> {
  const [{ listSandboxes }, { cloudConfigured }] = await Promise.all([import("../core/list.js"), import("../cloud/credentials.js")]);
  const home = heyoHome();
  const withCloud = options.where !== "local" && !options.wtOnly && cloudConfigured(home);
  const all = options.all || options.stopped === true;
  const local = (await listSandboxes(home, { all, wtOnly: options.wtOnly })).filter((row) => !options.stopped || row.status === "stopped");
  let cloud: CloudListRow[] = [];
  if (withCloud) {
    const { listCloudRows } = await import("../core/cloud-sandboxes.js");
    const listed = await listCloudRows(home, { all, stopped: options.stopped === true });
    if (listed.error) io.stderr.write(`heyvm: the cloud's sandboxes are not listed: ${listed.error}\n`);
    cloud = listed.rows;
  }
  if (options.json) {
    // without a cloud the array is what it always was; with one each row says where it lives
    printJson(io, withCloud ? [...local.map((row) => ({ ...row, location: "local" })), ...cloud] : local);
    return;
  }
  if (local.length === 0 && cloud.length === 0) {
    print(io, options.stopped ? "no stopped sandboxes" : options.all ? "no sandboxes" : "no running sandboxes (use --all to include stopped ones)");
    return;
  }
  const localRows = local.map((r) => [r.id, r.name, r.status, r.backend, r.branch ?? "-", age(r.started_at ?? r.created_at), r.worktree]);
  if (!withCloud) return print(io, table(["ID", "NAME", "STATE", "BACKEND", "BRANCH", "AGE", "WORKTREE"], localRows));
  const cloudRows = cloud.map((r) => [r.id, r.name, r.status, r.backend, "-", age(r.started_at ?? r.created_at ?? null), r.urls.map((u) => u.url).join(" ") || "-"]);
  print(
    io,
    table(
      ["LOCATION", "ID", "NAME", "STATE", "BACKEND", "BRANCH", "AGE", "WORKTREE / URLS"],
      [...localRows.map((row) => ["local", ...row]), ...cloudRows.map((row) => ["cloud", ...row])],
    ),
  );
}
