// sandbox.json, owner.json and exit.json as read from disk: valid records round-trip, a record
// missing a required field or torn mid-write reads as absent, optional fields get their defaults.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { heyoHome } from "../../../src/state/home.js";
import { readExit, readOwner, readSpec, writeExit, writeOwner, writeSpec, type OwnerRecord } from "../../../src/state/records.js";
import { SandboxDir } from "../../../src/state/sandbox-dir.js";
import { sandboxSpec, withTempDir } from "../helpers/fixtures.js";

/** A sandbox folder under a temporary HEYO_HOME. */
function withSandboxDir(fn: (dir: SandboxDir) => void): Promise<void> {
  return withTempDir((root) => {
    const dir = new SandboxDir(heyoHome({ HEYO_HOME: root }), "sb-0123abcd");
    mkdirSync(dir.root, { recursive: true });
    fn(dir);
  });
}

function ownerRecord(overrides: Partial<OwnerRecord> = {}): OwnerRecord {
  return {
    pid: 4242,
    pidStartTime: "123456",
    bootId: "8d1f5c3e-0000-4000-8000-000000000000",
    startedAt: "2025-01-02T03:04:05.000Z",
    state: "running",
    mode: "detached",
    backend: "libvirt",
    guestIp: "10.0.2.15",
    ssh: { host: "127.0.0.1", port: 42022, user: "heyo" },
    machine: { domain: "heyvm-sb-0123abcd" },
    ...overrides,
  };
}

describe("readSpec", () => {
  test("reads back what writeSpec wrote", () =>
    withSandboxDir((dir) => {
      const spec = sandboxSpec({
        image: "ubuntu:24.04",
        mounts: [{ host: "/repo/.git", guest: "/repo/.git", readOnly: true }],
        network: false,
        ports: [3000, 8080],
      });
      writeSpec(dir, spec);
      assert.deepEqual(readSpec(dir), spec);
    }));

  test("is undefined when there is no sandbox.json", () =>
    withSandboxDir((dir) => {
      assert.equal(readSpec(dir), undefined);
    }));

  test("is undefined for a torn file, a non-object and an empty file", () =>
    withSandboxDir((dir) => {
      for (const text of [`{"id": "sb-0123abcd", "name": "wt-x"`, `["sb-0123abcd"]`, `"sb-0123abcd"`, "null", ""]) {
        writeFileSync(dir.specPath, text);
        assert.equal(readSpec(dir), undefined, text);
      }
    }));

  test("is undefined when a required field is missing, empty or of the wrong type", () =>
    withSandboxDir((dir) => {
      const valid = sandboxSpec() as unknown as Record<string, unknown>;
      const broken: Array<[string, unknown]> = [
        ["id", undefined],
        ["id", ""],
        ["name", undefined],
        ["name", 7],
        ["backend", "docker"],
        ["backend", undefined],
        ["workspace", undefined],
        ["workspace", ""],
        ["createdAt", undefined],
      ];
      for (const [field, value] of broken) {
        writeFileSync(dir.specPath, JSON.stringify({ ...valid, [field]: value }));
        assert.equal(readSpec(dir), undefined, `${field} = ${JSON.stringify(value)}`);
      }
    }));

  test("fills in defaults for optional fields: image null, no git, no mounts, network on, no ports, no env, no TTL, the backend's machine size", () =>
    withSandboxDir((dir) => {
      writeFileSync(dir.specPath, JSON.stringify({ id: "sb-0123abcd", name: "wt-x", backend: "bubblewrap", workspace: "/w", createdAt: "2025-01-01T00:00:00Z" }));
      assert.deepEqual(readSpec(dir), {
        id: "sb-0123abcd",
        name: "wt-x",
        backend: "bubblewrap",
        image: null,
        workspace: "/w",
        git: null,
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
        createdAt: "2025-01-01T00:00:00Z",
      });
    }));

  test("drops a git link without a branch or common folder, bad mounts and out-of-range ports", () =>
    withSandboxDir((dir) => {
      const base = sandboxSpec() as unknown as Record<string, unknown>;
      writeFileSync(
        dir.specPath,
        JSON.stringify({
          ...base,
          git: { commonDir: "/repo/.git", branch: "" },
          mounts: [
            { host: "/a", guest: "/a" },
            { host: "/b" },
            "not a mount",
            { host: "/c", guest: "/c", readOnly: "yes" },
            { host: "/d", guest: "/d", readOnly: true },
          ],
          ports: [0, 22, 65535, 65536, -1, 1.5, "80", null, 3000],
          network: "no",
        }),
      );
      const spec = readSpec(dir);
      assert.ok(spec);
      assert.equal(spec.git, null);
      assert.deepEqual(spec.mounts, [
        { host: "/a", guest: "/a", readOnly: false },
        { host: "/c", guest: "/c", readOnly: false },
        { host: "/d", guest: "/d", readOnly: true },
      ]);
      assert.deepEqual(spec.ports, [22, 65535, 3000]);
      assert.equal(spec.network, true, "only an explicit false turns the network off");
    }));

  test("a sandbox.json that is a folder is an error, not an absent record", () =>
    withSandboxDir((dir) => {
      mkdirSync(dir.specPath);
      assert.throws(() => readSpec(dir), { code: "EISDIR" });
    }));
});

describe("readOwner", () => {
  test("reads back what writeOwner wrote", () =>
    withSandboxDir((dir) => {
      const owner = ownerRecord();
      writeOwner(dir, owner);
      assert.deepEqual(readOwner(dir), owner);
    }));

  test("is undefined without a pid, a known backend or a live state", () =>
    withSandboxDir((dir) => {
      const valid = ownerRecord() as unknown as Record<string, unknown>;
      const broken: Array<[string, unknown]> = [
        ["pid", undefined],
        ["pid", "4242"],
        ["backend", "qemu"],
        ["state", "stopped"],
        ["state", undefined],
      ];
      for (const [field, value] of broken) {
        writeFileSync(dir.ownerPath, JSON.stringify({ ...valid, [field]: value }));
        assert.equal(readOwner(dir), undefined, `${field} = ${JSON.stringify(value)}`);
      }
      writeFileSync(dir.ownerPath, `{"pid": 42, "state": "runn`);
      assert.equal(readOwner(dir), undefined, "torn file");
    }));

  test("defaults: detached, no ssh, no guest ip, empty machine; ssh fields default one by one", () =>
    withSandboxDir((dir) => {
      writeFileSync(dir.ownerPath, JSON.stringify({ pid: 7, backend: "bubblewrap", state: "starting", mode: "weird", machine: [1, 2] }));
      assert.deepEqual(readOwner(dir), {
        pid: 7,
        pidStartTime: null,
        bootId: null,
        startedAt: "",
        state: "starting",
        mode: "detached",
        backend: "bubblewrap",
        guestIp: null,
        ssh: null,
        machine: {},
      });
      writeFileSync(dir.ownerPath, JSON.stringify({ pid: 7, backend: "libvirt", state: "stopping", mode: "attached", ssh: { port: 2222 } }));
      const owner = readOwner(dir);
      assert.equal(owner?.mode, "attached");
      assert.deepEqual(owner?.ssh, { host: "127.0.0.1", port: 2222, user: "heyo" });
    }));
});

describe("readExit", () => {
  test("reads back what writeExit wrote, and is undefined when absent or torn", () =>
    withSandboxDir((dir) => {
      assert.equal(readExit(dir), undefined);
      writeExit(dir, { at: "2025-01-02T03:04:05.000Z", reason: "the shell exited (status 0)" });
      assert.deepEqual(readExit(dir), { at: "2025-01-02T03:04:05.000Z", reason: "the shell exited (status 0)" });
      writeFileSync(dir.exitPath, `{"at": "2025`);
      assert.equal(readExit(dir), undefined);
    }));

  test("missing fields read as empty strings", () =>
    withSandboxDir((dir) => {
      writeFileSync(dir.exitPath, JSON.stringify({ reason: 3 }));
      assert.deepEqual(readExit(dir), { at: "", reason: "" });
    }));
});
