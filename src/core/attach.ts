// Shell and exec into a running local sandbox: find it, check it is really alive, and hand the
// terminal to the backend's command (nsenter, ssh…).
import { execCommand } from "../backends/exec-recipe.js";
import { loadBackend } from "../backends/registry.js";
import type { CommandOptions, MachineAccess, SpawnSpec } from "../backends/types.js";
import { requireRunning } from "../state/status.js";
import type { SandboxEntry } from "./catalog.js";
import { runInteractive } from "./interactive.js";

/**
 * exec trusts a live owner process that says running (no socket round trip: exec runs in agents'
 * loops); the backend then checks the machine itself (init pid, SSH).
 */
async function accessTo(entry: SandboxEntry, waitForStartMs = 0): Promise<MachineAccess> {
  return { dir: entry.dir, spec: entry.spec, owner: await requireRunning(entry, { fast: true, waitForStartMs }) };
}

/** The sandbox's own variables and folder (`create --env/--working-directory`), then the call's. */
function withSandboxDefaults(entry: SandboxEntry, options: CommandOptions): CommandOptions {
  const { env, workingDirectory } = entry.spec;
  return { ...options, cwd: options.cwd ?? workingDirectory ?? undefined, env: { ...env, ...options.env } };
}

/** The command that runs argv in the running sandbox (nsenter, ssh…), for the caller to spawn. */
export async function execCommandFor(entry: SandboxEntry, argv: readonly string[], options: CommandOptions): Promise<SpawnSpec> {
  const access = await accessTo(entry);
  const backend = await loadBackend(entry.spec.backend);
  return execCommand(backend, access, argv, withSandboxDefaults(entry, options));
}

export async function shellInEntry(entry: SandboxEntry, options: CommandOptions, waitForStartMs = 0): Promise<number> {
  const access = await accessTo(entry, waitForStartMs);
  const backend = await loadBackend(entry.spec.backend);
  return runInteractive(backend.shellCommand(access, withSandboxDefaults(entry, options)));
}
