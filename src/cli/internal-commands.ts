// What the commands heyvm runs of itself do (the owner; the stop and the git sync its native
// monitor runs), without commander: the hidden command declarations call these, and so does the
// internal entry (internal-entry.ts), which starts them without the full CLI.
import { ExitCode } from "../shared/errors.js";
import { traceStep } from "../shared/trace.js";

/** `__sandbox_owner <id> [--attached]`: runs the owner until its sandbox ends. */
export async function sandboxOwner(id: string, attached: boolean): Promise<number> {
  const [{ runOwner }, { writeLaunchRecord }] = await Promise.all([import("../owner/main.js"), import("../core/launch-record.js")]);
  // once ready, the owner writes what the native launcher needs to answer exec and list
  return runOwner(id, attached ? "attached" : "detached", writeLaunchRecord);
}

/**
 * `__sandbox_stop <id> [--ended] [--git-synced]`: the backend's graceful shutdown (or clean-up),
 * then the last git sync, unless the monitor says nothing it reads changed since its last one.
 */
export async function sandboxStop(id: string, how: { ended: boolean; gitSynced: boolean }): Promise<number> {
  const [{ runStopCommand }, { runGitSync }] = await Promise.all([import("../owner/stop-command.js"), import("../core/git-sync.js")]);
  const outcome = await runStopCommand(id, how.ended);
  if (how.gitSynced) traceStep("__sandbox_stop: no git sync (nothing changed since the last)");
  else await runGitSync(id); // the sandbox's last commits, once its processes have ended
  // not graceful: the monitor, seeing a failed stop command, ends the machine by force
  return outcome === "graceful" ? 0 : ExitCode.failed;
}

/** `__git_sync <id>`: carries commits between the sandbox's git store and the host's branch. */
export async function gitSync(id: string): Promise<number> {
  const { runGitSync } = await import("../core/git-sync.js");
  return (await runGitSync(id)) ? 0 : ExitCode.failed;
}
