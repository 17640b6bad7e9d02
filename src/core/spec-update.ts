// Changes a sandbox's sandbox.json after it was created (mount-add, resize, volumes), under the
// sandbox's own lock, so that a start reading the record meanwhile sees it whole, before or after.
import { withLock } from "../state/lock.js";
import type { HeyoHome } from "../state/home.js";
import { readSpec, writeSpec, type SandboxEntry, type SandboxSpec } from "../state/records.js";
import { NotFoundError } from "../shared/errors.js";

const SPEC_LOCK_WAIT_MS = 60_000;

/** Rewrites the record with change(current record); returns the entry as written. */
export function updateSpec(home: HeyoHome, entry: SandboxEntry, change: (spec: SandboxSpec) => SandboxSpec): Promise<SandboxEntry> {
  return withLock(home, `sandbox:${entry.spec.id}`, SPEC_LOCK_WAIT_MS, async () => {
    const current = readSpec(entry.dir);
    if (!current) throw new NotFoundError(`sandbox ${entry.spec.id} was removed meanwhile`);
    const spec = change(current);
    writeSpec(entry.dir, spec);
    return { dir: entry.dir, spec };
  });
}
