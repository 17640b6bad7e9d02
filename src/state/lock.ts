// Cross-process mutual exclusion for heyvm's own state (creating a worktree, starting an
// owner), so concurrent calls for one branch end with exactly one sandbox and one owner.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import lockfile from "proper-lockfile";
import type { HeyoHome } from "./home.js";
import { TimeoutError } from "../shared/errors.js";

/** Holds a named lock while fn runs; waits (up to waitMs) for another holder to finish. */
export async function withLock<T>(home: HeyoHome, key: string, waitMs: number, fn: () => Promise<T>): Promise<T> {
  mkdirSync(home.locks, { recursive: true });
  const name = createHash("sha256").update(key).digest("hex").slice(0, 24);
  return withLockAt(join(home.locks, name), key, waitMs, fn);
}

/** The same, for a lock file of its own (state shared beyond one HEYO_HOME); label names it in errors. */
export async function withLockAt<T>(path: string, label: string, waitMs: number, fn: () => Promise<T>): Promise<T> {
  const intervalMs = 50;
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(path, {
      realpath: false,
      stale: 10_000,
      update: 2_000,
      retries: { retries: Math.ceil(waitMs / intervalMs), factor: 1, minTimeout: intervalMs, maxTimeout: intervalMs },
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ELOCKED") {
      throw new TimeoutError(`another heyvm command held the lock "${label}" for more than ${Math.round(waitMs / 1000)} s`, "try again once it has finished");
    }
    throw error;
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}
