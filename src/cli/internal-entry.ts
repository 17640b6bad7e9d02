// The entry of the commands heyvm runs of itself, bundled on its own (dist/bundle/internal.cjs,
// with V8's code cache beside it, as the fast path): bin/heyvm loads it instead of the fast path
// for `__…` commands, so that an owner's start, a stop and a git sync do not load commander and
// every command. Their exact forms only; anything else returns undefined (the full CLI takes it).
import { gitSync, sandboxOwner, sandboxStop } from "./internal-commands.js";

const SANDBOX_ID = /^sb-[0-9a-f]{8}$/;

export async function fastPath(argv: readonly string[]): Promise<number | undefined> {
  const [command, id = "", ...flags] = argv;
  if (!SANDBOX_ID.test(id) || new Set(flags).size !== flags.length) return undefined;
  const only = (...allowed: string[]) => flags.every((flag) => allowed.includes(flag));
  if (command === "__sandbox_owner" && only("--attached")) return sandboxOwner(id, flags.includes("--attached"));
  if (command === "__sandbox_stop" && only("--ended", "--git-synced")) return sandboxStop(id, { ended: flags.includes("--ended"), gitSynced: flags.includes("--git-synced") });
  if (command === "__git_sync" && flags.length === 0) return gitSync(id);
  return undefined;
}
