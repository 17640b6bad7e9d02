// The two records of a sandbox: what was asked (sandbox.json, written once by the CLI) and what
// the owner reports (owner.json, written by the owner process). Neither is trusted for status:
// see liveness.ts.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { isBackendName, type BackendName } from "../shared/backend-name.js";
import { isErrnoError } from "../shared/errors.js";
import { isObject, num, readJsonFile, str, writeJsonFile, type JsonObject } from "../shared/json.js";
import type { SandboxDir } from "./sandbox-dir.js";

export interface GitLink {
  /** The repository's common git folder (shared by all its worktrees). */
  commonDir: string;
  branch: string;
}

/** A sandbox's folder with what was asked of it: what every use case passes around. */
export interface SandboxEntry {
  dir: SandboxDir;
  spec: SandboxSpec;
}

export interface ExtraMount {
  host: string;
  guest: string;
  readOnly: boolean;
}

export interface SandboxSpec {
  id: string;
  name: string;
  backend: BackendName;
  image: string | null;
  /** The host folder that is /workspace inside. */
  workspace: string;
  git: GitLink | null;
  /** Further host folders the sandbox sees, e.g. the git common folder at its own path. */
  mounts: ExtraMount[];
  /**
   * true: network through the sandbox's own namespace (or VM network) with outbound-only
   * user-mode NAT, the default; false: no network; "host": the host's own network, shared
   * (local sandboxes only, asked for with --network host). See networkMode().
   */
  network: boolean | "host";
  /** Guest TCP ports to make reachable on the host's 127.0.0.1 (VMs forward each one). */
  ports: number[];
  /** Host ports asked for some of those guest ports (`create --open-port 8080:80`), by guest port. */
  hostPorts: Record<string, number>;
  /** Variables every exec and shell in the sandbox gets (`create --env`). */
  env: Record<string, string>;
  /** Where exec and shells start inside; null means /workspace. */
  workingDirectory: string | null;
  /** Run in the background once the sandbox is ready (`create --start-command`). */
  startCommand: string | null;
  /** The sandbox is stopped this long after it starts; null means no limit. */
  ttlSeconds: number | null;
  /** vCPUs of a VM sandbox, or a bubblewrap sandbox's CPU bound in cores (`--cpus`); null: the backend's default. */
  cpus: number | null;
  /** Memory of the sandbox in MiB (`--memory`); null: the backend's default. */
  memoryMiB: number | null;
  /** A bubblewrap sandbox's bound on processes (`--pids`); null: the default (backends/sandbox-limits.ts). */
  pids: number | null;
  createdAt: string;
}

/** How a sandbox reaches the network, as the CLI names it (`--network <mode>`). */
export type NetworkMode = "outbound" | "none" | "host";

export const NETWORK_MODES: readonly NetworkMode[] = ["outbound", "none", "host"];

export function networkMode(spec: Pick<SandboxSpec, "network">): NetworkMode {
  return spec.network === "host" ? "host" : spec.network ? "outbound" : "none";
}

/** What sandbox.json stores for a mode (true/false as records always had, "host" for sharing). */
export function networkSetting(mode: NetworkMode): SandboxSpec["network"] {
  return mode === "host" ? "host" : mode === "outbound";
}

export type OwnerState = "starting" | "running" | "stopping";
export type OwnerMode = "detached" | "attached";

export interface SshEndpoint {
  host: string;
  port: number;
  user: string;
}

export interface OwnerRecord {
  pid: number;
  /** /proc start time of the owner, so a reused pid never reads as this owner. */
  pidStartTime: string | null;
  bootId: string | null;
  startedAt: string;
  state: OwnerState;
  mode: OwnerMode;
  backend: BackendName;
  guestIp: string | null;
  ssh: SshEndpoint | null;
  /** What the backend needs later to reach the machine (e.g. the sandbox's init pid). */
  machine: JsonObject;
}

export interface ExitRecord {
  at: string;
  reason: string;
}

function isPort(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value > 0 && value < 65536;
}

export function parseSpec(raw: JsonObject): SandboxSpec | undefined {
  const id = str(raw, "id");
  const name = str(raw, "name");
  const backend = raw.backend;
  const workspace = str(raw, "workspace");
  const createdAt = str(raw, "createdAt");
  if (!id || !name || !isBackendName(backend) || !workspace || !createdAt) return undefined;
  const git = isObject(raw.git) ? { commonDir: str(raw.git, "commonDir") ?? "", branch: str(raw.git, "branch") ?? "" } : null;
  const mounts: ExtraMount[] = Array.isArray(raw.mounts)
    ? raw.mounts.filter(isObject).map((m) => ({ host: str(m, "host") ?? "", guest: str(m, "guest") ?? "", readOnly: m.readOnly === true }))
    : [];
  return {
    id,
    name,
    backend,
    image: str(raw, "image") ?? null,
    workspace,
    git: git && git.commonDir && git.branch ? git : null,
    mounts: mounts.filter((m) => m.host && m.guest),
    // records written before --network host existed say true (on) or false (off)
    network: raw.network === "host" ? "host" : raw.network !== false,
    ports: Array.isArray(raw.ports) ? raw.ports.filter(isPort) : [],
    hostPorts: isObject(raw.hostPorts) ? Object.fromEntries(Object.entries(raw.hostPorts).filter((pair): pair is [string, number] => isPort(pair[1]))) : {},
    env: isObject(raw.env) ? Object.fromEntries(Object.entries(raw.env).filter((pair): pair is [string, string] => typeof pair[1] === "string")) : {},
    workingDirectory: str(raw, "workingDirectory") ?? null,
    startCommand: str(raw, "startCommand") ?? null,
    ttlSeconds: num(raw, "ttlSeconds") ?? null,
    cpus: num(raw, "cpus") ?? null,
    memoryMiB: num(raw, "memoryMiB") ?? null,
    pids: num(raw, "pids") ?? null,
    createdAt,
  };
}

/** An owner.json as read (readOwner); undefined when it is not one. */
export function parseOwner(raw: JsonObject): OwnerRecord | undefined {
  const pid = num(raw, "pid");
  const backend = raw.backend;
  const state = raw.state;
  if (pid === undefined || !isBackendName(backend)) return undefined;
  if (state !== "starting" && state !== "running" && state !== "stopping") return undefined;
  const ssh = isObject(raw.ssh)
    ? { host: str(raw.ssh, "host") ?? "127.0.0.1", port: num(raw.ssh, "port") ?? 22, user: str(raw.ssh, "user") ?? "heyo" }
    : null;
  return {
    pid,
    pidStartTime: str(raw, "pidStartTime") ?? null,
    bootId: str(raw, "bootId") ?? null,
    startedAt: str(raw, "startedAt") ?? "",
    state,
    mode: raw.mode === "attached" ? "attached" : "detached",
    backend,
    guestIp: str(raw, "guestIp") ?? null,
    ssh,
    machine: isObject(raw.machine) ? raw.machine : {},
  };
}

export function readSpec(dir: SandboxDir): SandboxSpec | undefined {
  const raw = readJsonFile(dir.specPath);
  return raw ? parseSpec(raw) : undefined;
}

/** Tells the catalog index (catalog-index.ts) that a record changed: after the write, always. */
export function markChanged(dir: SandboxDir): void {
  try {
    writeFileSync(dir.changedMarker, "");
  } catch (error) {
    if (!isErrnoError(error) || error.code !== "ENOENT") throw error;
    mkdirSync(dirname(dir.changedMarker), { recursive: true });
    writeFileSync(dir.changedMarker, "");
  }
}

export function writeSpec(dir: SandboxDir, spec: SandboxSpec): void {
  writeJsonFile(dir.specPath, spec);
  markChanged(dir);
}

export function readOwner(dir: SandboxDir): OwnerRecord | undefined {
  const raw = readJsonFile(dir.ownerPath);
  return raw ? parseOwner(raw) : undefined;
}

export function writeOwner(dir: SandboxDir, owner: OwnerRecord): void {
  writeJsonFile(dir.ownerPath, owner);
}

export function parseExit(raw: JsonObject): ExitRecord {
  return { at: str(raw, "at") ?? "", reason: str(raw, "reason") ?? "" };
}

export function readExit(dir: SandboxDir): ExitRecord | undefined {
  const raw = readJsonFile(dir.exitPath);
  return raw ? parseExit(raw) : undefined;
}

export function writeExit(dir: SandboxDir, exit: ExitRecord): void {
  writeJsonFile(dir.exitPath, exit);
  markChanged(dir);
}
