// state/status.ts, the one answer to "is this sandbox running?", against real processes and a real
// control socket: an owner counts only when its pid, boot and start time all match; a live owner
// whose socket says nothing reads as its record says (silent), never as stopped; reading status
// writes nothing.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:net";
import { mkdirSync, readdirSync } from "node:fs";
import { heyoHome } from "../../../src/state/home.js";
import { currentBootId, processStartTime } from "../../../src/state/liveness.js";
import { writeOwner, type OwnerRecord, type OwnerState } from "../../../src/state/records.js";
import { SandboxDir } from "../../../src/state/sandbox-dir.js";
import { serveControl } from "../../../src/shared/owner-protocol.js";
import { ExitCode } from "../../../src/shared/errors.js";
import { NotRunningError, processStatus, requireRunning, sandboxStatus, staleOwnerRecord, waitForOwnerExit } from "../../../src/state/status.js";
import { sandboxSpec, withTempDir } from "../helpers/fixtures.js";

function withSandboxDir<T>(fn: (dir: SandboxDir) => Promise<T> | T): Promise<T> {
  return withTempDir((root) => {
    const dir = new SandboxDir(heyoHome({ HEYO_HOME: root }), "sb-0123abcd");
    mkdirSync(dir.root, { recursive: true });
    return fn(dir);
  });
}

/** An owner record for pid (this process unless said), true to /proc unless overridden. */
function ownerOf(pid: number, overrides: Partial<OwnerRecord> = {}): OwnerRecord {
  return {
    pid,
    pidStartTime: processStartTime(pid) ?? "0",
    bootId: currentBootId() ?? "unknown",
    startedAt: new Date().toISOString(),
    state: "running",
    mode: "detached",
    backend: "bubblewrap",
    guestIp: null,
    ssh: null,
    machine: {},
    ...overrides,
  };
}

/** A socket that accepts connections, reads them and never answers (a busy or flooded owner). */
async function silentSocket(path: string): Promise<Server> {
  // read (and drop) what comes, so that the client's end is seen and close() can finish
  const server = createServer((connection) => connection.resume());
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return server;
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

describe("processStatus", () => {
  test("no owner.json: stopped", () =>
    withSandboxDir((dir) => {
      assert.deepEqual(processStatus(dir), { status: "stopped", owner: undefined, silentOwner: undefined });
    }));

  for (const state of ["starting", "running", "stopping"] as OwnerState[]) {
    test(`a live owner reads as its record's state (${state})`, () =>
      withSandboxDir((dir) => {
        writeOwner(dir, ownerOf(process.pid, { state }));
        const read = processStatus(dir);
        assert.equal(read.status, state);
        assert.equal(read.owner?.pid, process.pid);
      }));
  }

  test("a reused pid (another start time), another boot, or a dead pid reads as stopped", () =>
    withSandboxDir(async (dir) => {
      writeOwner(dir, ownerOf(process.pid, { pidStartTime: "1" }));
      assert.equal(processStatus(dir).status, "stopped");
      writeOwner(dir, ownerOf(process.pid, { bootId: "00000000-0000-0000-0000-000000000000" }));
      assert.equal(processStatus(dir).status, "stopped");
      const child = spawn("sleep", ["30"]);
      const record = ownerOf(child.pid ?? 0);
      const gone = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await gone;
      writeOwner(dir, record);
      assert.equal(processStatus(dir).status, "stopped");
      assert.equal(staleOwnerRecord(dir)?.pid, record.pid, "the dead owner's record is stale, for clean-up");
    }));

  test("reading status writes nothing", () =>
    withSandboxDir((dir) => {
      writeOwner(dir, ownerOf(process.pid, { pidStartTime: "1" }));
      const before = readdirSync(dir.root).sort();
      processStatus(dir);
      staleOwnerRecord(dir);
      assert.deepEqual(readdirSync(dir.root).sort(), before);
    }));
});

describe("sandboxStatus", () => {
  test("the owner's own word over its socket wins over owner.json's state", () =>
    withSandboxDir(async (dir) => {
      writeOwner(dir, ownerOf(process.pid, { state: "starting" }));
      const server = await serveControl(dir.socketPath, { status: () => ({ ok: true, id: dir.id, pid: process.pid, state: "running" }), stop: () => undefined });
      try {
        const read = await sandboxStatus(dir);
        assert.equal(read.status, "running");
        assert.equal(read.owner?.state, "running");
        assert.equal(read.silentOwner, undefined);
      } finally {
        await close(server);
      }
    }));

  test("a live owner whose socket does not answer reads as its record, marked silent", () =>
    withSandboxDir(async (dir) => {
      writeOwner(dir, ownerOf(process.pid, { state: "running" }));
      const server = await silentSocket(dir.socketPath);
      try {
        const read = await sandboxStatus(dir, 200);
        assert.equal(read.status, "running");
        assert.equal(read.silentOwner?.pid, process.pid);
      } finally {
        await close(server);
      }
    }));

  test("an answer from another pid is not the owner's word", () =>
    withSandboxDir(async (dir) => {
      writeOwner(dir, ownerOf(process.pid, { state: "stopping" }));
      const server = await serveControl(dir.socketPath, { status: () => ({ ok: true, id: dir.id, pid: process.pid + 1, state: "running" }), stop: () => undefined });
      try {
        const read = await sandboxStatus(dir);
        assert.equal(read.status, "stopping");
        assert.ok(read.silentOwner);
      } finally {
        await close(server);
      }
    }));

  test("no socket at all (the owner is between writing its record and listening): its record, silent", () =>
    withSandboxDir(async (dir) => {
      writeOwner(dir, ownerOf(process.pid, { state: "starting" }));
      const read = await sandboxStatus(dir, 200);
      assert.equal(read.status, "starting");
      assert.ok(read.silentOwner);
    }));
});

describe("requireRunning", () => {
  test("a stopped sandbox: NotRunningError, the conflict exit code, a hint to start it", () =>
    withSandboxDir(async (dir) => {
      const entry = { dir, spec: sandboxSpec() };
      await assert.rejects(requireRunning(entry), (error: unknown) => {
        assert.ok(error instanceof NotRunningError);
        assert.equal(error.exitCode, ExitCode.conflict);
        assert.match(error.hint ?? "", /heyvm wt feature\/x --detach/);
        return true;
      });
    }));

  test("fast: a live owner whose record says running, without asking its socket", () =>
    withSandboxDir(async (dir) => {
      writeOwner(dir, ownerOf(process.pid, { state: "running" }));
      const owner = await requireRunning({ dir, spec: sandboxSpec() }, { fast: true });
      assert.equal(owner.pid, process.pid);
    }));

  test("a starting sandbox is waited for up to waitForStartMs, then refused as starting", () =>
    withSandboxDir(async (dir) => {
      writeOwner(dir, ownerOf(process.pid, { state: "starting" }));
      const server = await serveControl(dir.socketPath, { status: () => ({ ok: true, id: dir.id, pid: process.pid, state: "starting" }), stop: () => undefined });
      try {
        await assert.rejects(requireRunning({ dir, spec: sandboxSpec() }, { waitForStartMs: 250 }), /is starting/);
      } finally {
        await close(server);
      }
    }));
});

describe("waitForOwnerExit", () => {
  test("true once the owner process is gone, false while it lives", async () => {
    const child = spawn("sleep", ["30"]);
    const owner = ownerOf(child.pid ?? 0);
    try {
      assert.equal(await waitForOwnerExit(owner, 100), false);
      child.kill("SIGKILL");
      assert.equal(await waitForOwnerExit(owner, 5000), true);
    } finally {
      child.kill("SIGKILL");
    }
  });
});
