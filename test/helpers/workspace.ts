// The check every VM backend's tests make of /workspace: a file the host writes is read inside
// with heyo as its owner, a file written inside lands in the worktree owned by the host user,
// and (for a channel with caching, such as sshfs) a later host edit is seen inside.
import assert from "node:assert/strict";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { waitFor, type RunResult } from "./env.js";

/** exec runs `heyvm <args>` for the sandbox whose /workspace is worktree. */
export async function checkWorkspaceBothWays(exec: (args: string[]) => Promise<RunResult>, id: string, worktree: string, options: { hostEditSeen?: boolean } = {}): Promise<void> {
  writeFileSync(join(worktree, "from-host.txt"), "host\n");
  const read = await exec(["exec", id, "--", "sh", "-c", 'cat from-host.txt; [ "$(stat -c %u from-host.txt)" = "$(id -u heyo)" ] && echo owned-by-heyo']);
  assert.equal(read.stdout, "host\nowned-by-heyo\n", read.stderr);
  const wrote = await exec(["exec", id, "--", "sh", "-c", "echo guest > from-guest.txt"]);
  assert.equal(wrote.code, 0, wrote.stderr);
  assert.equal(readFileSync(join(worktree, "from-guest.txt"), "utf8"), "guest\n");
  assert.equal(statSync(join(worktree, "from-guest.txt")).uid, process.getuid?.(), "owned on the host by the user who ran heyvm");
  if (!options.hostEditSeen) return;
  writeFileSync(join(worktree, "from-host.txt"), "changed on the host\n");
  await waitFor(async () => (await exec(["exec", id, "--", "cat", "from-host.txt"])).stdout === "changed on the host\n", 15_000, "the host's change inside");
}
