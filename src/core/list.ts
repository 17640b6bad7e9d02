// `heyvm list` / `heyvm wt --list`: local sandboxes with their derived status.
import { compareCodePoints } from "../shared/compare.js";
import { readdirSync, rmSync } from "node:fs";
import type { HeyoHome } from "../state/home.js";
import { catalogEntries, type CatalogEntry } from "../state/catalog-index.js";
import { readSpec, type SandboxSpec } from "../state/records.js";
import { SandboxDir } from "../state/sandbox-dir.js";
import { processStatus } from "../state/status.js";
import { viewAll, viewOf, type SandboxEntry, type SandboxView } from "./catalog.js";
import { sandboxInfo, sandboxInfoWithPorts, type SandboxInfo } from "./sandbox-info.js";

export interface ListOptions {
  /** Include stopped sandboxes. */
  all: boolean;
  /** Only sandboxes made by `heyvm wt` (named wt-…). */
  wtOnly: boolean;
}

/**
 * The sandboxes in the live index whose owner process still lives; a marker an owner left
 * behind when it died (kill -9) is removed here. Every owner writes its marker before its
 * owner.json, so a sandbox without one is stopped.
 */
function liveIds(home: HeyoHome): Set<string> {
  const ids = new Set<string>();
  let names: string[] = [];
  try {
    names = readdirSync(home.live).filter((name) => name.startsWith("sb-"));
  } catch {
    return ids;
  }
  for (const id of names) {
    const dir = new SandboxDir(home, id);
    if (processStatus(dir).status === "stopped") rmSync(dir.liveMarker, { force: true });
    else ids.add(id);
  }
  return ids;
}

function stoppedView(entry: CatalogEntry): SandboxView {
  return { dir: entry.dir, spec: entry.spec, status: "stopped", owner: undefined, lastExit: entry.lastExit };
}

export async function listSandboxes(home: HeyoHome, options: ListOptions): Promise<SandboxInfo[]> {
  // Without --all only live sandboxes are shown, so only the live index is read (list runs in
  // agents' loops). With --all, the catalog index gives every sandbox's records from one file,
  // and only live ones have their status derived (asked of their owner).
  const live = liveIds(home);
  const wanted = (spec: SandboxSpec) => !options.wtOnly || spec.name.startsWith("wt-");
  let views: SandboxView[];
  if (options.all) {
    const entries = catalogEntries(home).filter((entry) => wanted(entry.spec));
    views = await Promise.all(entries.map((entry) => (live.has(entry.spec.id) ? viewOf(entry) : stoppedView(entry))));
  } else {
    const entries: SandboxEntry[] = [];
    for (const id of live) {
      const dir = new SandboxDir(home, id);
      const spec = readSpec(dir);
      if (spec && wanted(spec)) entries.push({ dir, spec });
    }
    views = (await viewAll(entries, false)).filter((view) => view.status !== "stopped");
  }
  // a stopped sandbox has no ports to map: no promise per row for the thousands list --all shows
  views.sort((a, b) => compareCodePoints(a.spec.createdAt, b.spec.createdAt));
  const infos = views.map((view) => sandboxInfoWithPorts(view, []));
  for (let i = 0; i < views.length; i++) {
    const view = views[i];
    if (view?.owner && view.spec.ports.length > 0) infos[i] = await sandboxInfo(view);
  }
  return infos;
}
