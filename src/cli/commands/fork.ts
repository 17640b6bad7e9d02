// `heyvm fork <id>`: a new sandbox that starts as a copy of a running or stopped one (its
// worktree's uncommitted and untracked changes on a new branch, its disk copy-on-write).
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print, printJson, stderrReporter } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";

interface ForkFlags extends FormatFlags {
  name?: string;
  branch?: string;
  path?: string;
  /** --start / --no-start; undefined: as the source (started when it runs). */
  start?: boolean;
  printId?: boolean;
  quiet?: boolean;
}

export const forkCommand = defineCommand<ForkFlags>({
  name: "fork",
  description: "a new sandbox that starts as a copy of a running or stopped one: a new branch and worktree with the source's uncommitted and untracked changes, its disk copy-on-write",
  arguments: [{ name: "<id>", description: "the sandbox to fork: id, unique id prefix, name or branch (dep-… for cloud)" }],
  options: [
    { flags: "--name <name>", description: "the fork's name (default: wt-<branch> for a worktree sandbox, else its id)" },
    { flags: "--branch <branch>", description: "the fork's new branch (default: <source branch>-fork-<hex>)" },
    { flags: "--path <dir>", description: "where the fork's worktree goes (default: ../<slugified-branch> beside the repository)" },
    { flags: "--start", description: "start the fork even if the source is stopped" },
    { flags: "--no-start", description: "leave the fork stopped even if the source runs" },
    ...FORMAT_OPTIONS,
    { flags: "--print-id", description: "print only the new sandbox's id" },
    { flags: "-q, --quiet", description: "no progress messages; print only the new sandbox's id" },
  ],
  helpAfter:
    "\nThe source is not disturbed. Files git ignores are not carried into the fork's worktree.\nExamples:\n  heyvm fork sb-1a2b3c4d                 fork; started if the source runs\n  heyvm fork feature/x --branch try-b -q  the fork's id only",
  async run({ io, args: [id], flags }) {
    const json = wantsJson(flags);
    const query = String(id);
    const reporter = stderrReporter(io, flags.quiet || json);
    const { isCloudId } = await import("../../shared/ids.js");
    if (isCloudId(query)) {
      const { forkCloudSandbox } = await import("../../core/cloud-cold-store.js");
      const deployment = await forkCloudSandbox(heyoHome(), query, flags.name);
      if (json) return printJson(io, { ...deployment, source_id: query });
      return print(io, flags.printId || flags.quiet ? deployment.id : `ID: ${deployment.id}`);
    }
    const { forkSandbox } = await import("../../core/fork.js");
    const result = await forkSandbox(heyoHome(), { query, name: flags.name, branch: flags.branch, path: flags.path, start: flags.start }, reporter);
    if (json) return printJson(io, result);
    if (!flags.printId && !flags.quiet) io.stderr.write(`forked ${result.source_id} into ${result.name} (${result.status})${result.branch ? `: branch ${result.branch}, worktree ${result.worktree}` : ""}\n`);
    print(io, flags.printId || flags.quiet ? result.id : `ID: ${result.id}`);
  },
});
