// The check every VM backend's tests make of /workspace: a file the host writes is read inside
// with heyo as its owner (heyvm run by root: writable for heyo), a file written inside lands in
// the worktree owned by the host user (by root: by the sandbox's own uid, never root),
// and (for a channel with caching, such as sshfs) a later host edit is seen inside.
import assert from "node:assert/strict";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { waitFor, type RunResult } from "./env.js";

/** exec runs `heyvm <args>` for the sandbox whose /workspace is worktree. */
export async function checkWorkspaceBothWays(exec: (args: string[]) => Promise<RunResult>, id: string, worktree: string, options: { hostEditSeen?: boolean } = {}): Promise<void> {
  // heyvm run by root: the sandbox is an unprivileged uid of its own, which root's files are not
  // owned by but writable for (ACL entries); run by a user, the sandbox is that user
  const asRoot = process.getuid?.() === 0;
  writeFileSync(join(worktree, "from-host.txt"), "host\n");
  const check = asRoot ? "[ -w from-host.txt ] && echo writable-by-heyo" : '[ "$(stat -c %u from-host.txt)" = "$(id -u heyo)" ] && echo owned-by-heyo';
  const read = await exec(["exec", id, "--", "sh", "-c", `cat from-host.txt; ${check}`]);
  assert.equal(read.stdout, `host\n${asRoot ? "writable-by-heyo" : "owned-by-heyo"}\n`, read.stderr);
  const wrote = await exec(["exec", id, "--", "sh", "-c", "echo guest > from-guest.txt"]);
  assert.equal(wrote.code, 0, wrote.stderr);
  assert.equal(readFileSync(join(worktree, "from-guest.txt"), "utf8"), "guest\n");
  const owner = statSync(join(worktree, "from-guest.txt")).uid;
  if (asRoot) assert.notEqual(owner, 0, "never root's on the host");
  else assert.equal(owner, process.getuid?.(), "owned on the host by the user who ran heyvm");
  if (!options.hostEditSeen) return;
  writeFileSync(join(worktree, "from-host.txt"), "changed on the host\n");
  await waitFor(async () => (await exec(["exec", id, "--", "cat", "from-host.txt"])).stdout === "changed on the host\n", 15_000, "the host's change inside");
}
