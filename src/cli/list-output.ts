// Printing the local sandbox list, shared by `heyvm list`, `heyvm wt --list` and the fast path.
import { heyoHome } from "../state/home.js";
import { print, printJson, type CliIO } from "./io.js";
import { age, table } from "./render.js";

export async function printList(io: CliIO, options: { all: boolean; wtOnly: boolean; json: boolean }): Promise<void> {
  const { listSandboxes } = await import("../core/list.js");
  const rows = await listSandboxes(heyoHome(), { all: options.all, wtOnly: options.wtOnly });
  if (options.json) {
    printJson(io, rows);
    return;
  }
  if (rows.length === 0) {
    print(io, options.all ? "no sandboxes" : "no running sandboxes (use --all to include stopped ones)");
    return;
  }
  print(
    io,
    table(
      ["ID", "NAME", "STATE", "BACKEND", "BRANCH", "AGE", "WORKTREE"],
      rows.map((r) => [r.id, r.name, r.status, r.backend, r.branch ?? "-", age(r.started_at ?? r.created_at), r.worktree]),
    ),
  );
}
