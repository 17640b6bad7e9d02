// The catalog index is a cache that must never lie: new, changed and removed sandboxes show at
// once, whatever the index file holds.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { catalogEntries } from "../../../src/state/catalog-index.js";
import { heyoHome } from "../../../src/state/home.js";
import { writeExit, writeSpec, type SandboxSpec } from "../../../src/state/records.js";
import { SandboxDir } from "../../../src/state/sandbox-dir.js";

function spec(id: string, name: string): SandboxSpec {
  return { id, name, backend: "bubblewrap", image: null, workspace: `/tmp/w/${name}`, git: null, mounts: [], network: true, ports: [], hostPorts: {}, env: {}, workingDirectory: null, startCommand: null, ttlSeconds: null, cpus: null, memoryMiB: null, pids: null, createdAt: "2026-01-01T00:00:00.000Z" };
}

function freshHome() {
  const root = mkdtempSync(join(tmpdir(), "heyvm-catalog-"));
  const home = heyoHome({ HEYO_HOME: root });
  mkdirSync(home.sandboxes, { recursive: true });
  return { home, done: () => rmSync(root, { recursive: true, force: true }) };
}

function add(home: ReturnType<typeof heyoHome>, id: string, name: string): SandboxDir {
  const dir = new SandboxDir(home, id);
  mkdirSync(dir.root);
  writeSpec(dir, spec(id, name));
  return dir;
}

describe("catalog index", () => {
  test("builds from the records, then serves them from one file", () => {
    const { home, done } = freshHome();
    try {
      add(home, "sb-00000001", "wt-a");
      add(home, "sb-00000002", "wt-b");
      assert.deepEqual(catalogEntries(home).map((e) => e.spec.name).sort(), ["wt-a", "wt-b"]);
      assert.ok(existsSync(home.catalogIndex), "the index was written");
      assert.ok(!existsSync(join(home.changed, "sb-00000001")), "markers were taken");
      // the index alone now answers: a record written behind heyvm's back (no marker) is not read
      writeFileSync(join(home.sandboxes, "sb-00000001", "sandbox.json"), JSON.stringify(spec("sb-00000001", "wt-hand-edited")));
      assert.equal(catalogEntries(home).find((e) => e.spec.id === "sb-00000001")?.spec.name, "wt-a");
    } finally {
      done();
    }
  });

  test("a changed record, a new exit reason, a new and a removed sandbox show at once", () => {
    const { home, done } = freshHome();
    try {
      const a = add(home, "sb-0000000a", "wt-a");
      add(home, "sb-0000000b", "wt-b");
      catalogEntries(home);
      writeSpec(a, { ...spec("sb-0000000a", "wt-a"), network: false });
      writeExit(a, { at: "2026-01-02T00:00:00.000Z", reason: "heyvm stop" });
      add(home, "sb-0000000c", "wt-c");
      rmSync(join(home.sandboxes, "sb-0000000b"), { recursive: true }); // by hand, no marker
      const entries = catalogEntries(home);
      assert.deepEqual(entries.map((e) => e.spec.id).sort(), ["sb-0000000a", "sb-0000000c"]);
      const first = entries.find((e) => e.spec.id === "sb-0000000a");
      assert.equal(first?.spec.network, false);
      assert.equal(first?.lastExit?.reason, "heyvm stop");
    } finally {
      done();
    }
  });

  test("a torn index is rebuilt, and a held lock never hides a change", () => {
    const { home, done } = freshHome();
    try {
      const a = add(home, "sb-000000aa", "wt-a");
      catalogEntries(home);
      writeFileSync(home.catalogIndex, '{"version":1,"sandb');
      assert.equal(catalogEntries(home)[0]?.spec.name, "wt-a");
      writeFileSync(`${home.catalogIndex}.lock`, String(process.pid)); // a live reader holds it
      writeSpec(a, spec("sb-000000aa", "wt-renamed"));
      assert.equal(catalogEntries(home)[0]?.spec.name, "wt-renamed", "read directly while the lock is held");
      assert.ok(existsSync(join(home.changed, "sb-000000aa")), "the marker stays for the next reader");
      rmSync(`${home.catalogIndex}.lock`);
      writeFileSync(`${home.catalogIndex}.lock`, "999999999"); // left by a reader that died
      assert.equal(catalogEntries(home)[0]?.spec.name, "wt-renamed");
      assert.ok(!existsSync(join(home.changed, "sb-000000aa")), "a dead reader's lock is taken over");
    } finally {
      done();
    }
  });
});
