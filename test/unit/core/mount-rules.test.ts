// What a mount may be (core/mount-rules.ts), the size classes, and the --volume flag's form.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkHostPath, checkSandboxPath, isWithin } from "../../../src/core/mount-rules.js";
import { SIZE_CLASSES, SIZE_CLASS_NAMES } from "../../../src/core/size-class.js";
import { parseVolumeFlag } from "../../../src/core/volumes.js";
import { heyoHome } from "../../../src/state/home.js";
import { UserError } from "../../../src/shared/errors.js";

test("isWithin: the path itself and what lies below, not a sibling with the same prefix", () => {
  assert.equal(isWithin("/a/b", "/a"), true);
  assert.equal(isWithin("/a", "/a"), true);
  assert.equal(isWithin("/ab", "/a"), false);
  assert.equal(isWithin("/", "/a"), false);
});

test("sandbox paths: heyvm's own and the kernel's are refused; a VM takes paths under /workspace only", () => {
  for (const bad of ["/", "/workspace", "/workspace/.git", "/workspace/.git/hooks", "/heyvm/git", "/proc/x", "/dev", "relative", "/a/../b", "/a/"]) {
    assert.throws(() => checkSandboxPath(bad, false), UserError, bad);
  }
  assert.equal(checkSandboxPath("/data", false), "/data");
  assert.equal(checkSandboxPath("/workspace/data", true), "/workspace/data");
  assert.throws(() => checkSandboxPath("/data", true), /inside \/workspace only/);
});

test("host paths: heyvm's state, a git folder and what contains them are refused", () => {
  const root = mkdtempSync(join(tmpdir(), "heyvm-mount-rules-"));
  try {
    const home = heyoHome({ HEYO_HOME: join(root, "heyo") });
    mkdirSync(join(root, "heyo", "sandboxes"), { recursive: true });
    mkdirSync(join(root, "repo", ".git"), { recursive: true });
    mkdirSync(join(root, "data"));
    writeFileSync(join(root, "file"), "");
    assert.throws(() => checkHostPath(home, join(root, "heyo", "sandboxes"), undefined), /lies inside/);
    assert.throws(() => checkHostPath(home, root, undefined), /contains/);
    assert.throws(() => checkHostPath(home, join(root, "repo"), undefined), /git folder/);
    assert.throws(() => checkHostPath(home, join(root, "repo", ".git"), undefined), /git folder/);
    assert.throws(() => checkHostPath(home, join(root, "file"), undefined), /not a folder/);
    assert.throws(() => checkHostPath(home, join(root, "missing"), undefined), /does not exist/);
    assert.equal(checkHostPath(home, join(root, "data"), undefined), join(root, "data"));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("size classes: one per cloud name, growing", () => {
  assert.deepEqual(Object.keys(SIZE_CLASSES), [...SIZE_CLASS_NAMES]);
  const sizes = SIZE_CLASS_NAMES.map((name) => SIZE_CLASSES[name].memoryMiB);
  assert.deepEqual(sizes, [...sizes].sort((a, b) => a - b));
});

test("--volume NAME[:PATH]: /volumes/NAME by default; a bad name is refused", () => {
  assert.deepEqual(parseVolumeFlag("cache"), { name: "cache", path: "/volumes/cache" });
  assert.deepEqual(parseVolumeFlag("cache:/workspace/c"), { name: "cache", path: "/workspace/c" });
  assert.throws(() => parseVolumeFlag("../x"), /not a volume name/);
});

test("a VM sandbox's volume under /workspace is bound into the workspace share on the host side, read-write", async () => {
  const { planShares } = await import("../../../src/backends/libvirt/shares.js");
  const spec = {
    id: "sb-00000000", name: "n", backend: "libvirt" as const, image: null, workspace: "/w", git: null,
    mounts: [{ host: "/home/u/.heyo/volumes/cache/data", guest: "/workspace/cache", readOnly: false }],
    network: true, ports: [], hostPorts: {}, env: {}, workingDirectory: null, startCommand: null, ttlSeconds: null, cpus: null, memoryMiB: null, pids: null, createdAt: "",
  };
  assert.deepEqual(planShares(spec), [{ source: "/w", tag: "workspace", binds: [{ host: "/home/u/.heyo/volumes/cache/data", target: "/w/cache", readOnly: false }], nameguard: true }]);
});
