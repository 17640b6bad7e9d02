// `heyvm archive <id|dir> [--name N]`: a sandbox's workspace, or a folder, uploaded to the cloud's
// archive store (.gitignore respected); prints the archive's id.
import { heyoHome } from "../../state/home.js";
import { cloudClientFor } from "../cloud-client.js";
import { defineCommand } from "../command.js";
import { print, printJson } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";
import { formatBytes } from "../render.js";

interface ArchiveFlags extends FormatFlags {
  name?: string;
}

export const archiveCommand = defineCommand<ArchiveFlags>({
  name: "archive",
  description: "upload a sandbox's workspace or a folder (git's files: tracked and untracked, .gitignore respected) to the cloud's archive store",
  arguments: [{ name: "<id|dir>", description: "a local sandbox (id, prefix, name or branch) or a folder" }],
  options: [{ flags: "--name <name>", description: "the archive's name (default: the sandbox's name or the folder's)" }, ...FORMAT_OPTIONS],
  helpAfter: "\nExamples:\n  heyvm archive feature/x                  the worktree of that sandbox\n  heyvm archive ./site --name site-v2       a folder\n  heyvm update dep-1a2b3c4d --archive $(heyvm archive .)",
  async run({ io, args: [target], flags }) {
    const { archiveWorkspace } = await import("../../core/archive.js");
    const home = heyoHome();
    const result = await archiveWorkspace(home, await cloudClientFor(home), String(target), { name: flags.name });
    if (wantsJson(flags)) return printJson(io, result);
    io.stderr.write(`archived ${result.files} files of ${result.source} (${formatBytes(result.size_bytes)}) as ${result.name ?? result.id}\n`);
    print(io, result.id);
  },
});
