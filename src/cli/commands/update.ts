// `heyvm update <id> --archive <id>`: a sandbox's /workspace replaced by an archive's contents,
// a cloud sandbox's on the server, a local one's here (its .git kept; uncommitted changes refused
// unless --force).
import { heyoHome } from "../../state/home.js";
import { cloudClientFor } from "../cloud-client.js";
import { defineCommand } from "../command.js";
import { print, printJson } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";

interface UpdateFlags extends FormatFlags {
  archive: string;
  mountPath: string;
  force?: boolean;
}

/** The most a downloaded archive may be, and what it may unpack to (the server's own defaults). */
const LOCAL_LIMITS = { maxBytes: 8 * 1024 ** 3, maxEntries: 1_000_000, maxDownloadBytes: 2 * 1024 ** 3 };

export const updateCommand = defineCommand<UpdateFlags>({
  name: "update",
  description: "replace a sandbox's /workspace with an archive's contents (local: refused with uncommitted changes unless --force)",
  arguments: [{ name: "<id>", description: "a local sandbox (id, prefix, name or branch) or a cloud one (dep-…)" }],
  options: [
    { flags: "--archive <id>", description: "the archive (see `heyvm list-archives`)" },
    { flags: "--mount-path <path>", description: "the mount to replace", default: "/workspace" },
    { flags: "--force", description: "replace a local worktree even with uncommitted changes (they are lost)" },
    ...FORMAT_OPTIONS,
  ],
  async run({ io, args: [id], flags }) {
    const { UserError } = await import("../../shared/errors.js");
    if (!flags.archive) throw new UserError("update needs --archive <id>", { hint: "see `heyvm list-archives`" });
    const { updateWorkspace } = await import("../../core/archive.js");
    const { runArchiveJob } = await import("../../server/archives/unpack.js");
    const { OperationFailedError } = await import("../../shared/errors.js");
    const extract = async (file: string, dest: string) => {
      const result = await runArchiveJob({ op: "extract", file, dest, limits: { maxBytes: LOCAL_LIMITS.maxBytes, maxEntries: LOCAL_LIMITS.maxEntries } });
      if (!result.ok) throw new OperationFailedError(`archive ${flags.archive} was not unpacked: ${"rejected" in result ? result.rejected : result.failure}`);
    };
    const home = heyoHome();
    const result = await updateWorkspace(home, await cloudClientFor(home), String(id), { archiveId: flags.archive, mountPath: flags.mountPath, force: flags.force === true, maxBytes: LOCAL_LIMITS.maxDownloadBytes }, extract);
    if (wantsJson(flags)) return printJson(io, result);
    print(io, `updated ${result.mount_path} of ${result.id} from ${result.archive_id}${result.host_path ? ` (${result.host_path})` : ""}`);
  },
});
