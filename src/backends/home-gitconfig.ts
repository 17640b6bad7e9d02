// The git settings a VM guest is given: the sandbox home's .gitconfig, which `wt` writes and a
// bubblewrap run of the same sandbox may have changed (or replaced by a link to a host file).
// Read without following any link (shared/safe-fs.ts): a link or anything but a plain file is
// ignored and said so, never read through.
import { UnsafeFileError, readRegularFile } from "../shared/safe-fs.js";
import type { SandboxDir } from "../state/sandbox-dir.js";
import type { Reporter } from "./types.js";

export function homeGitconfig(dir: SandboxDir, reporter: Reporter): string {
  try {
    return readRegularFile(dir.homePath, ".gitconfig", 256 * 1024)?.toString("utf8") ?? "";
  } catch (error) {
    if (!(error instanceof UnsafeFileError)) throw error;
    reporter.info(`the sandbox's ~/.gitconfig is ignored: ${error.message}`);
    return "";
  }
}
