// Fixtures shared by the unit tests: a sandbox spec with every field set, and temporary folders
// that are removed even when the test fails.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SandboxSpec } from "../../../src/state/records.js";

/** A complete, valid spec; tests override only the fields they are about. */
export function sandboxSpec(overrides: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    id: "sb-0123abcd",
    name: "wt-feature-x",
    backend: "bubblewrap",
    image: null,
    workspace: "/home/dev/repo-worktrees/feature-x",
    git: { commonDir: "/home/dev/repo/.git", branch: "feature/x" },
    mounts: [],
    network: true,
    ports: [],
    hostPorts: {},
    env: {},
    workingDirectory: null,
    startCommand: null,
    ttlSeconds: null,
    cpus: null,
    memoryMiB: null,
    pids: null,
    createdAt: "2025-01-02T03:04:05.000Z",
    ...overrides,
  };
}

/** Runs fn with a fresh temporary folder and removes the folder afterwards, whatever happens. */
export async function withTempDir<T>(fn: (dir: string) => T | Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "heyvm-unit-"));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
