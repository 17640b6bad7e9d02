// `heyvm rm <id>`: stop a sandbox and remove its record and disk (the worktree only when asked).
import { UserError } from "../../shared/errors.js";
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print, printJson, type CliIO } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";
import { confirm } from "../terminal.js";

interface RmFlags extends FormatFlags {
  yes?: boolean;
  worktree?: boolean;
  force?: boolean;
}

/** rm of a dep-… id: the cloud deletes the deployment (there is no local worktree to remove). */
async function removeCloud(io: CliIO, id: string, flags: RmFlags): Promise<number | undefined> {
  if (flags.worktree) throw new UserError("--worktree is for local sandboxes: a cloud sandbox has no worktree here", { hint: `heyvm rm ${id} -y` });
  if (!flags.yes) {
    if (!process.stdin.isTTY) throw new UserError(`rm needs -y to remove ${id} without a terminal to ask on`, { hint: `heyvm rm ${id} -y` });
    if (!(await confirm(io, `remove the cloud sandbox ${id}? [y/N] `))) return 1;
  }
  const result = await (await import("../../core/cloud-sandboxes.js")).removeCloudSandbox(heyoHome(), id);
  if (wantsJson(flags)) printJson(io, { id: result.id, name: result.name, was_running: result.wasRunning, removed_worktree: null });
  else print(io, `removed ${result.id} (${result.name})`);
  return undefined;
}

export const rmCommand = defineCommand<RmFlags>({
  name: "rm",
  description: "stop a sandbox and remove its record and disk; the worktree stays unless --worktree",
  arguments: [{ name: "<id>", description: "sandbox id, unique id prefix, name or branch (or dep-… for cloud)" }],
  options: [
    { flags: "-y, --yes", description: "do not ask (needed without a terminal)" },
    { flags: "--worktree", description: "remove the branch's worktree too (refused with uncommitted changes)" },
    { flags: "--force", description: "with --worktree: remove it even with uncommitted changes" },
    ...FORMAT_OPTIONS,
  ],
  async run({ io, args: [query], flags }) {
    if ((await import("../../core/targets/kind.js")).targetKind(String(query)) === "cloud") return removeCloud(io, String(query), flags);
    const { resolveSandbox } = await import("../../core/catalog.js");
    const { removeEntry } = await import("../../core/lifecycle.js");
    const home = heyoHome();
    const entry = resolveSandbox(home, String(query));
    if (!flags.yes) {
      if (!process.stdin.isTTY) throw new UserError(`rm needs -y to remove ${entry.spec.id} without a terminal to ask on`, { hint: `heyvm rm ${entry.spec.id} -y` });
      const what = `${entry.spec.id} (${entry.spec.name})${flags.worktree ? ` and its worktree ${entry.spec.workspace}` : ""}`;
      if (!(await confirm(io, `remove ${what}? [y/N] `))) return 1;
    }
    const result = await removeEntry(home, entry, { worktree: flags.worktree === true, force: flags.force === true });
    if (wantsJson(flags)) printJson(io, { id: result.id, name: result.name, was_running: result.wasRunning, removed_worktree: result.removedWorktree });
    else print(io, `removed ${result.id} (${result.name})${result.removedWorktree ? ` and the worktree ${result.removedWorktree}` : ""}`);
  },
});
