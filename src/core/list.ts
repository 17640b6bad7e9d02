// `heyvm list` / `heyvm wt --list`: local sandboxes with their derived status.
import { compareCodePoints } from "../shared/compare.js";
import { readdirSync, rmSync } from "node:fs";
import type { HeyoHome } from "../state/home.js";
import { readSpec } from "../state/records.js";
import { SandboxDir } from "../state/sandbox-dir.js";
import { processStatus } from "../state/status.js";
import { sandboxIds, viewAll, type SandboxEntry, type SandboxView } from "./catalog.js";

export interface ListOptions {
  /** Include stopped sandboxes. */
  all: boolean;
  /** Only sandboxes made by `heyvm wt` (named wt-…). */
  wtOnly: boolean;
}

export interface SandboxRow {
  id: string;
  name: string;
  state: SandboxView["status"];
  backend: string;
  branch: string | null;
  worktree: string;
  createdAt: string;
  startedAt: string | null;
  pid: number | null;
  ssh: string | null;
  lastExit: string | null;
}

function liveIds(home: HeyoHome): string[] {
  try {
    return readdirSync(home.live).filter((name) => name.startsWith("sb-"));
  } catch {
    return [];
  }
}

export async function listSandboxes(home: HeyoHome, options: ListOptions): Promise<SandboxRow[]> {
  const entries: SandboxEntry[] = [];
  // Without --all only live sandboxes are shown, so only the live index is read (list runs in
  // agents' loops; a thousand stopped sandboxes must not slow it down). The index is a hint:
  // status is still derived from each owner's liveness, and dead entries are dropped.
  const ids = options.all ? sandboxIds(home) : liveIds(home);
  for (const id of ids) {
    const dir = new SandboxDir(home, id);
    if (!options.all) {
      if (processStatus(dir).status === "stopped") {
        rmSync(dir.liveMarker, { force: true });
        continue;
      }
    }
    const spec = readSpec(dir);
    if (spec && (!options.wtOnly || spec.name.startsWith("wt-"))) entries.push({ dir, spec });
  }
  const views = await viewAll(entries, options.all);
  return views
    .filter((v) => options.all || v.status !== "stopped")
    .sort((a, b) => compareCodePoints(a.spec.createdAt, b.spec.createdAt))
    .map((v) => ({
      id: v.spec.id,
      name: v.spec.name,
      state: v.status,
      backend: v.spec.backend,
      branch: v.spec.git?.branch ?? null,
      worktree: v.spec.workspace,
      createdAt: v.spec.createdAt,
      startedAt: v.owner?.startedAt ?? null,
      pid: v.owner?.pid ?? null,
      ssh: v.owner?.ssh ? `${v.owner.ssh.user}@${v.owner.ssh.host}:${v.owner.ssh.port}` : null,
      lastExit: v.lastExit?.reason ?? null,
    }));
}
