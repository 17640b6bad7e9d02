// The surface commands on a libvirt VM sandbox (QEMU under TCG where KVM cannot run): a volume
// and an added mount inside /workspace (bound into the workspace share by heyvm's virtiofsd, read-
// only on the host's side when asked), resize taken at the next boot, run-host and session reset.
// One sandbox, two boots; the default image is built on first use (kernel packages cached).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hasCommand, makeTestEnv, type TestEnv } from "./helpers/env.js";
import { assertRefused, jsonOf } from "./helpers/cli-result.js";
import { TEST_IMAGE_CACHE } from "./helpers/engine.js";

function skipReason(): string | false {
  if (process.platform !== "linux") return "libvirt needs Linux";
  if (process.getuid?.() !== 0) return "the default VM image is built as root (mmdebstrap and a chroot)";
  for (const tool of ["virsh", "qemu-system-x86_64", "qemu-img", "mmdebstrap", "ssh"]) if (!hasCommand(tool)) return `${tool} is not installed`;
  const virsh = spawnSync("virsh", ["-c", "qemu:///system", "uri"], { encoding: "utf8", timeout: 60_000 });
  if (virsh.status !== 0) return `libvirtd is not reachable (${virsh.stderr.trim()}); run scripts/start-services.sh`;
  return false;
}

const skip = skipReason();
if (skip) console.log(`# skipping the VM surface tests: ${skip}`);

describe("volume, mount-add, resize, run-host, session reset on libvirt", { skip }, () => {
  let t: TestEnv;
  let id = "";
  let volume = "";
  const env = { HEYVM_IMAGE_CACHE: TEST_IMAGE_CACHE };

  before(async () => {
    t = makeTestEnv("heyvm-vm-surface-");
    assertRefused(await t.run(["create", "--backend", "libvirt", "--volume", "cache:/cache"], { env }), 2, /inside \/workspace only/);
    const made = jsonOf<{ id: string }>(await t.run(["create", "--backend", "libvirt", "--volume", "cache:/workspace/cache", "--memory", "512M", "--format", "json"], { env, timeoutMs: 1_500_000 }));
    id = made.id;
    volume = (await t.run(["volume", "path", "cache"])).stdout.trim();
  });
  after(async () => {
    await t?.cleanup();
  });

  test("a volume inside /workspace is the volume's host folder, both ways", async () => {
    const wrote = await t.run(["exec", id, "--", "sh", "-c", "echo from-guest > /workspace/cache/g && cat /workspace/cache/g"]);
    assert.equal(wrote.stdout, "from-guest\n", wrote.stderr);
    assert.equal(readFileSync(join(volume, "g"), "utf8"), "from-guest\n");
  });

  test("mount-add (inside /workspace, read-only) and resize take effect at the next boot, and say so", async () => {
    const data = join(t.root, "data");
    mkdirSync(data);
    writeFileSync(join(data, "f.txt"), "payload\n");
    assertRefused(await t.run(["mount-add", "--id", id, "--host-path", data, "--sandbox-path", "/data"]), 2, /inside \/workspace only/);
    const added = jsonOf<{ applied: string; running: boolean }>(await t.run(["mount-add", "--id", id, "--host-path", data, "--sandbox-path", "/workspace/data", "--ro", "--format", "json"]));
    assert.deepEqual([added.applied, added.running], ["next-start", true]);
    const resized = jsonOf<{ applied: string; cpus: number; memory_mib: number; notes: string[] }>(await t.run(["resize", id, "--cpus", "1", "--memory", "768M", "--format", "json"]));
    assert.equal(resized.applied, "next-start");
    assert.match(resized.notes.join(" "), /sized when it boots/);
    const restarted = await t.run(["restart", id], { env, timeoutMs: 600_000 });
    assert.equal(restarted.code, 0, restarted.stderr);
    assert.equal((await t.run(["exec", id, "--", "cat", "/workspace/data/f.txt"])).stdout, "payload\n");
    const write = await t.run(["exec", id, "--", "sh", "-c", "echo x > /workspace/data/g.txt"]);
    assert.notEqual(write.code, 0, "read-only, on the host's side");
    assert.equal(existsSync(join(data, "g.txt")), false);
    const memory = await t.run(["exec", id, "--", "sh", "-c", "awk '/MemTotal/ {print $2}' /proc/meminfo"]);
    const kib = Number(memory.stdout.trim());
    assert.ok(kib > 512 * 1024 && kib <= 768 * 1024, `the guest has the new memory (${kib} KiB)`);
    assert.equal((await t.run(["exec", id, "--", "cat", "/workspace/cache/g"])).stdout, "from-guest\n", "the volume is still there");
  });

  test("run-host runs in the folder behind /workspace; session reset forgets a session in the guest", async () => {
    const ran = jsonOf<{ host_path: string; stdout: string }>(await t.run(["run-host", id, "--format", "json", "--", "ls"]));
    assert.match(ran.stdout, /^cache\ndata\n$/);
    assert.equal((await t.run(["exec", id, "--session", "v", "--", "cd", "/tmp"])).code, 0);
    assert.deepEqual(jsonOf(await t.run(["session", "reset", id, "v", "--format", "json"])), { id, session: "v", existed: true });
    assert.equal((await t.run(["exec", id, "--session", "v", "--", "pwd"])).stdout, "/workspace\n");
  });
});
