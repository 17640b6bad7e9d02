// The set of local sandboxes: reading their records, deriving each one's status from liveness,
// resolving what a user typed (id, id prefix, wt-name or branch) to exactly one sandbox, and
// creating new records.
import { compareCodePoints } from "../shared/compare.js";
import { mkdirSync } from "node:fs";
import type { BackendName } from "../shared/backend-name.js";
import { ConflictError, NotFoundError, isErrnoError } from "../shared/errors.js";
import type { HeyoHome } from "../state/home.js";
import { readSpec, writeSpec, type ExitRecord, type OwnerRecord, type SandboxEntry, type SandboxSpec } from "../state/records.js";
import { catalogEntries, type CatalogEntry } from "../state/catalog-index.js";
import { SandboxDir } from "../state/sandbox-dir.js";
import { lastExit, sandboxStatus, type SandboxStatus } from "../state/status.js";

export type { SandboxEntry };

export interface SandboxView extends SandboxEntry {
  status: SandboxStatus;
  owner: OwnerRecord | undefined;
  lastExit: ExitRecord | undefined;
}

/** Every sandbox with a readable sandbox.json (others are ignored, never fatal). */
export function allSandboxes(home: HeyoHome): CatalogEntry[] {
  return catalogEntries(home);
}

/** A sandbox with its status (state/status.ts) and, while stopped, why its owner last ended. */
export async function viewOf(entry: SandboxEntry, withLastExit = true): Promise<SandboxView> {
  const { status, owner } = await sandboxStatus(entry.dir);
  return { ...entry, status, owner, lastExit: status === "stopped" && withLastExit ? lastExit(entry.dir) : undefined };
}

export function viewAll(entries: SandboxEntry[], withLastExit = true): Promise<SandboxView[]> {
  return Promise.all(entries.map((entry) => viewOf(entry, withLastExit)));
}

function describeMatches(matches: SandboxEntry[]): string {
  return matches.map((m) => `${m.spec.id} (${m.spec.name}, ${m.spec.workspace})`).join(", ");
}

/** Resolves an id, a unique id prefix, a wt-<slug> name or a branch name to one sandbox. */
export function resolveSandbox(home: HeyoHome, query: string): SandboxEntry {
  const exact = new SandboxDir(home, query);
  if (/^sb-[0-9a-f]{8}$/.test(query)) {
    const spec = readSpec(exact);
    if (spec) return { dir: exact, spec };
  }
  const all = allSandboxes(home);
  const tiers: Array<(entry: SandboxEntry) => boolean> = [
    (e) => e.spec.name === query,
    (e) => e.spec.git?.branch === query,
    (e) => query.length >= 2 && (e.spec.id.startsWith(query) || e.spec.id.startsWith(`sb-${query}`)),
  ];
  for (const matches of tiers.map((test) => all.filter(test))) {
    if (matches.length === 1 && matches[0]) return matches[0];
    if (matches.length > 1) {
      throw new ConflictError(`"${query}" matches ${matches.length} sandboxes: ${describeMatches(matches)}`, "use the full sandbox id");
    }
  }
  throw new NotFoundError(`no sandbox matches "${query}"`, "run `heyvm list --all` to see sandbox ids and names");
}

/** The sandbox made for a branch of a repository, if there is one. */
export function findByBranch(home: HeyoHome, commonDir: string, branch: string): SandboxEntry | undefined {
  const matches = allSandboxes(home).filter((e) => e.spec.git?.commonDir === commonDir && e.spec.git.branch === branch);
  return matches.sort((a, b) => compareCodePoints(b.spec.createdAt, a.spec.createdAt))[0];
}

export interface NewSandbox {
  name: string;
  backend: BackendName;
  image: string | null;
  workspace: string;
  git: SandboxSpec["git"];
  mounts: SandboxSpec["mounts"];
  network: SandboxSpec["network"];
  ports?: number[];
  hostPorts?: Record<string, number>;
  env?: Record<string, string>;
  workingDirectory?: string | null;
  startCommand?: string | null;
  ttlSeconds?: number | null;
  cpus?: number | null;
  memoryMiB?: number | null;
  pids?: number | null;
}

export async function createSandbox(home: HeyoHome, request: NewSandbox): Promise<SandboxEntry> {
  const { randomBytes } = await import("node:crypto"); // loaded here only: exec and list never need it
  mkdirSync(home.sandboxes, { recursive: true });
  for (;;) {
    const id = `sb-${randomBytes(4).toString("hex")}`;
    const dir = new SandboxDir(home, id);
    try {
      mkdirSync(dir.root); // fails if the id is taken: ids are never reused
    } catch (error) {
      if (isErrnoError(error) && error.code === "EEXIST") continue;
      throw error;
    }
    const spec: SandboxSpec = {
      id,
      ...request,
      ports: request.ports ?? [],
      hostPorts: request.hostPorts ?? {},
      env: request.env ?? {},
      workingDirectory: request.workingDirectory ?? null,
      startCommand: request.startCommand ?? null,
      ttlSeconds: request.ttlSeconds ?? null,
      cpus: request.cpus ?? null,
      memoryMiB: request.memoryMiB ?? null,
      pids: request.pids ?? null,
      createdAt: new Date().toISOString(),
    };
    writeSpec(dir, spec);
    return { dir, spec };
  }
}
