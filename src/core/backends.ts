// `heyvm backends`: every backend heyvm knows, probed on this host, with what the default
// choice would be and whether its self-test (`heyvm test-<backend>`) has passed here.
import { chooseDefaultBackend, detectBackend } from "../backends/registry.js";
import { isRunnable } from "../backends/types.js";
import { BACKEND_NAMES, type BackendName } from "../shared/backend-name.js";
import type { HeyoHome } from "../state/home.js";
import { readSelfTest, type SelfTestRecord } from "../state/self-tests.js";

export interface BackendRow {
  name: BackendName;
  /** usable: works fully; degraded: works in a slow or unproven mode (never the default); missing: cannot run here. */
  status: "usable" | "degraded" | "missing";
  /** Why it is degraded or missing. */
  reason: string | null;
  /** What to do about it. */
  hint: string | null;
  notes: string[];
  /** What /workspace is in that backend; null for one heyvm cannot drive yet. */
  workspace: string | null;
  virtualMachine: boolean | null;
  /** Whether `heyvm wt` without --backend would pick it. */
  isDefault: boolean;
  selfTest: SelfTestRecord | null;
}

export async function backendRows(home: HeyoHome): Promise<BackendRow[]> {
  const defaultName = await chooseDefaultBackend().then(
    (backend) => backend.name,
    () => null,
  );
  const rows: BackendRow[] = [];
  for (const name of BACKEND_NAMES) {
    const backend = await detectBackend(name);
    const availability = await backend.probe();
    const features = isRunnable(backend) ? backend.features : null;
    const common = { name, workspace: features?.workspace ?? null, virtualMachine: features?.virtualMachine ?? null, isDefault: name === defaultName, selfTest: readSelfTest(home, name) };
    if (!availability.usable) rows.push({ ...common, status: "missing", reason: availability.reason, hint: availability.hint, notes: [] });
    else if (availability.degraded !== undefined) rows.push({ ...common, status: "degraded", reason: availability.degraded, hint: null, notes: availability.notes });
    else rows.push({ ...common, status: "usable", reason: null, hint: null, notes: availability.notes });
  }
  return rows;
}
