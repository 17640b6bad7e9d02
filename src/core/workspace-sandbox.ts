// A sandbox over a plain folder (no git, no worktree): what the self-hosted cloud runs for each
// deployment. Same records, owner and backends as local sandboxes, so liveness, stop and exec
// behave identically; only the caller (the server) is different.
import { rmSync } from "node:fs";
import { execCommand } from "../backends/exec-recipe.js";
import { loadBackend, usableBackend } from "../backends/registry.js";
import { canReachPorts, type CommandOptions, type HostEndpoint, type MachineAccess, type Reporter, type SpawnSpec } from "../backends/types.js";
import type { BackendName } from "../shared/backend-name.js";
import type { HeyoHome } from "../state/home.js";
import { lastExit, processStatus, requireRunning } from "../state/status.js";
import { readSpec } from "../state/records.js";
import { SandboxDir } from "../state/sandbox-dir.js";
import { createSandbox, type SandboxEntry } from "./catalog.js";
import { ensureOwner } from "./owner-start.js";
import { runCaptured, runStreamed, type CapturedRun, type OutputSink } from "./capture.js";
import { timedOut, wrapCommand } from "./exec-wrap.js";
import { spawnLoggedDetached } from "./start-command.js";
import { stopEntry } from "./stop.js";
import { releaseSandboxHost } from "../backends/sandbox-release.js";

export interface WorkspaceSandboxRequest {
  name: string;
  backend: BackendName;
  image: string | null;
  workspace: string;
  network: boolean;
  /** Guest ports the cloud exposes (open_ports). */
  ports: number[];
}

export function createWorkspaceSandbox(home: HeyoHome, request: WorkspaceSandboxRequest): Promise<SandboxEntry> {
  return createSandbox(home, { ...request, git: null, mounts: [] });
}

export function openWorkspaceSandbox(home: HeyoHome, id: string): SandboxEntry | undefined {
  const dir = new SandboxDir(home, id);
  const spec = readSpec(dir);
  return spec ? { dir, spec } : undefined;
}

/** Starts a detached owner (idempotent: a live one is kept) and resolves once the sandbox is ready. */
export async function startWorkspaceSandbox(home: HeyoHome, entry: SandboxEntry, reporter: Reporter): Promise<void> {
  await ensureOwner(home, entry, await usableBackend(entry.spec.backend), "detached", reporter);
}

/**
 * Whether the sandbox's machine is up, or still coming up, right now: derived from its owner's
 * liveness (pid, boot, start time) and the state it recorded, never from its socket, so a busy
 * owner (a hundred requests at once) is never taken for a dead one. A stopping or stopped
 * sandbox is not running.
 */
export function isWorkspaceSandboxRunning(entry: SandboxEntry): boolean {
  const { status } = processStatus(entry.dir);
  return status === "running" || status === "starting";
}

/** Why the sandbox last stopped, as its owner recorded it (undefined if it never ran). */
export function lastExitReason(entry: SandboxEntry): string | undefined {
  return lastExit(entry.dir)?.reason;
}

export async function stopWorkspaceSandbox(home: HeyoHome, entry: SandboxEntry): Promise<boolean> {
  return (await stopEntry(home, entry)).wasRunning;
}

/** Gives back what a stopped sandbox holds on the host (its uid slot, its ACL entries) while keeping its folder: its next start takes them again. */
export async function releaseWorkspaceSandboxHost(entry: SandboxEntry): Promise<void> {
  await releaseSandboxHost(entry.dir, entry.spec);
}

/** Stops the sandbox and deletes its folder (records, home, disk); the workspace is the caller's. */
export async function destroyWorkspaceSandbox(home: HeyoHome, entry: SandboxEntry): Promise<void> {
  await stopEntry(home, entry);
  await releaseSandboxHost(entry.dir, entry.spec);
  rmSync(entry.dir.root, { recursive: true, force: true });
}

/** The running sandbox's access; a live owner that says running is trusted without a socket round trip. */
async function runningAccess(entry: SandboxEntry): Promise<MachineAccess> {
  return { dir: entry.dir, spec: entry.spec, owner: await requireRunning(entry, { fast: true }) };
}

/** The command (for a pty) that opens a login shell in the running sandbox. */
export async function workspaceShellCommand(entry: SandboxEntry, options: CommandOptions): Promise<SpawnSpec> {
  const backend = await loadBackend(entry.spec.backend);
  return backend.shellCommand(await runningAccess(entry), options);
}

export type { CapturedRun } from "./capture.js";

/** Where on this host guest port `guestPort` of the running sandbox answers; undefined when nothing leads there. */
export async function workspacePortEndpoint(entry: SandboxEntry, guestPort: number): Promise<HostEndpoint | undefined> {
  const backend = await loadBackend(entry.spec.backend);
  if (!canReachPorts(backend)) return undefined;
  return backend.portEndpoint(await runningAccess(entry), guestPort);
}

export interface CaptureOptions extends Omit<CommandOptions, "tty"> {
  /** Output beyond this many bytes (per stream) is cut, with a note. */
  maxOutputBytes: number;
  /** Aborting kills the command (the client went away). */
  signal?: AbortSignal;
  /** The command and its whole process tree are ended after this long (inside the sandbox, exit 124). */
  timeoutSeconds?: number;
  /** Bytes given to the command on its stdin (else it has none). */
  input?: Buffer;
}

/** How long after the in-sandbox timeout the host gives up on the command's transport (nsenter, SSH). */
const TRANSPORT_GRACE_MS = 15_000;

/** The command that runs argv in the running sandbox, ended after the timeout, and the signal that ends its transport. */
async function sandboxRun(entry: SandboxEntry, argv: readonly string[], options: Omit<CaptureOptions, "maxOutputBytes">) {
  const backend = await loadBackend(entry.spec.backend);
  const timeoutMs = options.timeoutSeconds === undefined ? undefined : options.timeoutSeconds * 1000;
  const wrapped = wrapCommand(argv, {}, { timeoutMs });
  const command = execCommand(backend, await runningAccess(entry), wrapped.argv, { cwd: options.cwd, env: options.env });
  // the sandbox's own `timeout` ends the command; should it not, the host ends the transport
  const signals = [options.signal, timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs + TRANSPORT_GRACE_MS)].filter((s): s is AbortSignal => s !== undefined);
  return { command, timeoutMs, signal: signals.length > 0 ? AbortSignal.any(signals) : undefined };
}

/** Runs argv in the running sandbox without a terminal and collects its output. */
export async function captureInWorkspaceSandbox(entry: SandboxEntry, argv: readonly string[], options: CaptureOptions): Promise<CapturedRun & { timedOut: boolean }> {
  const { command, timeoutMs, signal } = await sandboxRun(entry, argv, options);
  const started = performance.now();
  const run = await runCaptured(command, { stdin: options.input ?? "ignore", maxOutputBytes: options.maxOutputBytes, signal });
  return { ...run, timedOut: timedOut(run.exitCode, performance.now() - started, timeoutMs) };
}

/** Runs argv in the running sandbox without a terminal, its output handed to sink as it comes (runStreamed). */
export async function streamInWorkspaceSandbox(entry: SandboxEntry, argv: readonly string[], options: Omit<CaptureOptions, "maxOutputBytes"> & { sink: OutputSink }): Promise<{ exitCode: number; timedOut: boolean }> {
  const { command, timeoutMs, signal } = await sandboxRun(entry, argv, options);
  const started = performance.now();
  const exitCode = await runStreamed(command, { sink: options.sink, signal });
  return { exitCode, timedOut: timedOut(exitCode, performance.now() - started, timeoutMs) };
}

/** Starts argv in the running sandbox in the background, its output relayed into owner.log (start-command.ts). */
export async function launchInWorkspaceSandbox(entry: SandboxEntry, argv: readonly string[], options: Omit<CommandOptions, "tty">): Promise<void> {
  const backend = await loadBackend(entry.spec.backend);
  const command = execCommand(backend, await runningAccess(entry), argv, { cwd: options.cwd, env: options.env });
  spawnLoggedDetached(command.file, command.args, command.env ?? process.env, entry.dir.logPath);
}
