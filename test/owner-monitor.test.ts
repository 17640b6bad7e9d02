// The owner's hand-over to its native monitor (native/monitor/), on bubblewrap: the idle owner
// keeps its pid but is no longer a Node process, and still does every part of the job: status
// and stop on its socket, a machine that ends on its own recorded, SIGTERM as a graceful stop,
// and the Node owner still works when the hand-over is off or the monitor speaks another API
// version. (Console following after the hand-over is tested on libvirt, whose guest can write to
// its serial console.)
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MONITOR_API_VERSION } from "../src/owner/monitor-argv.js";
import { askOwner } from "../src/shared/owner-protocol.js";
import { bubblewrapMissing, isAlive, makeTestEnv, waitFor, type TestEnv, idOf } from "./helpers/env.js";

const MONITOR = fileURLToPath(new URL("../../build/Release/heyvm-owner-monitor", import.meta.url));
const skip = bubblewrapMissing() || (!existsSync(MONITOR) ? `the native owner monitor is not built (${MONITOR}); run npm run build` : false);

interface OwnerFile {
  pid: number;
  machine: { initPid: number };
}

describe("the owner's native monitor", { skip }, () => {
  let t: TestEnv;
  before(() => {
    t = makeTestEnv();
  });
  after(async () => {
    await t.cleanup();
  });

  const ownerOf = (id: string) => JSON.parse(readFileSync(join(t.home, "sandboxes", id, "owner.json"), "utf8")) as OwnerFile;
  const logOf = (id: string) => readFileSync(join(t.home, "sandboxes", id, "owner.log"), "utf8");
  const socketOf = (id: string) => join(t.home, "sandboxes", id, "owner.sock");
  async function start(branch: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
    const started = await t.run(["wt", branch, "--detach", "-q"], { env });
    assert.equal(started.code, 0, started.stderr);
    return idOf(started.stdout);
  }
  async function rowOf(id: string): Promise<Record<string, unknown> | undefined> {
    const rows = JSON.parse((await t.run(["list", "--all", "--json"])).stdout) as Array<Record<string, unknown>>;
    return rows.find((row) => row.id === id);
  }

  test("once ready, the owner is the native monitor with the same pid, and answers on its socket", async () => {
    const id = await start("monitor/basics");
    const { pid } = ownerOf(id);
    assert.equal(readlinkSync(`/proc/${pid}/exe`), MONITOR);
    assert.match(readFileSync(`/proc/${pid}/cmdline`, "utf8"), new RegExp(`__sandbox_owner\0${id}\0`));
    assert.match(logOf(id), new RegExp(`owner now runs as a small native monitor \\(pid ${pid}, same process\\)`));
    assert.deepEqual(await askOwner(socketOf(id), { op: "status" }), { ok: true, id, pid, state: "running" });
    const malformed = await askOwner(socketOf(id), { op: "nonsense" } as unknown as { op: "status" });
    assert.equal(malformed.ok, false);
    const exec = await t.run(["exec", id, "--", "sh", "-c", "echo in; cat; exit 7"], { input: "piped\n" });
    assert.deepEqual([exec.code, exec.stdout], [7, "in\npiped\n"]);
    assert.equal((await rowOf(id))?.state, "running");
    const stop = await t.run(["stop", id]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.ok(!isAlive(pid), "the monitor exited");
    assert.ok(!existsSync(socketOf(id)) && !existsSync(join(t.home, "sandboxes", id, "owner.json")) && !existsSync(join(t.home, "live", id)));
    assert.match(readFileSync(join(t.home, "sandboxes", id, "exit.json"), "utf8"), /"reason": "heyvm stop"/);
  });

  test("a machine that ends on its own is recorded and the sandbox reads as stopped", async () => {
    const id = await start("monitor/crash");
    const { pid } = ownerOf(id);
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).map(Number);
    const bwrap = children.find((child) => readFileSync(`/proc/${child}/cmdline`, "utf8").startsWith("bwrap") || readlinkSync(`/proc/${child}/exe`).endsWith("/bwrap"));
    assert.ok(bwrap, `bwrap among the owner's children ${children.join(", ")}`);
    process.kill(bwrap, "SIGKILL");
    await waitFor(() => !isAlive(pid), 5000, "the owner to exit after its machine ended");
    const row = await rowOf(id);
    assert.equal(row?.state, "stopped");
    assert.match(String(row?.last_exit), /machine ended on its own: bwrap was ended by SIGKILL/);
    assert.ok(!existsSync(join(t.home, "live", id)));
  });

  test("SIGTERM to the owner stops the sandbox gracefully: its processes get time to finish", async () => {
    const id = await start("monitor/sigterm");
    const { pid } = ownerOf(id);
    const script = "trap 'echo finished-cleanly > /workspace/term.txt; exit 0' TERM; echo up; while :; do sleep 0.1; done";
    const background = await t.run(["exec", id, "--", "sh", "-c", `setsid sh -c "${script}" > /tmp/trap.log 2>&1 & sleep 0.3; cat /tmp/trap.log`]);
    assert.equal(background.stdout.trim(), "up");
    process.kill(pid, "SIGTERM");
    await waitFor(() => !isAlive(pid), 20_000, "the owner to stop after SIGTERM");
    assert.equal(readFileSync(join(t.root, "monitor-sigterm", "term.txt"), "utf8"), "finished-cleanly\n");
    assert.match(readFileSync(join(t.home, "sandboxes", id, "exit.json"), "utf8"), /"reason": "received SIGTERM"/);
  });

  test("with the hand-over off (HEYVM_OWNER_MONITOR=0) the Node owner does the whole job itself", async () => {
    const id = await start("monitor/off", { HEYVM_OWNER_MONITOR: "0" });
    const { pid } = ownerOf(id);
    assert.equal(readlinkSync(`/proc/${pid}/exe`), process.execPath);
    assert.match(logOf(id), /staying a Node process .*: the hand-over to the native monitor is off/);
    const exec = await t.run(["exec", id, "--", "pwd"]);
    assert.equal(exec.stdout, "/workspace\n");
    const stop = await t.run(["stop", id]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.ok(!isAlive(pid));
  });

  test("a monitor that speaks another API version is found out before the exec: the owner stays in Node and says why, once", async () => {
    const calls = join(t.root, "other-monitor-calls");
    const otherMonitor = join(t.root, "other-monitor");
    writeFileSync(otherMonitor, `#!/bin/sh\necho "$@" >> '${calls}'\necho ${MONITOR_API_VERSION + 1}\n`, { mode: 0o755 });
    const id = await start("monitor/other-version", { HEYVM_OWNER_MONITOR_PATH: otherMonitor });
    const { pid } = ownerOf(id);
    assert.equal(readlinkSync(`/proc/${pid}/exe`), process.execPath);
    assert.equal(readFileSync(calls, "utf8"), "--api-version\n", "the other monitor was asked its version, never run as the owner");
    const said = logOf(id).split("\n").filter((line) => line.includes("staying a Node process"));
    assert.equal(said.length, 1, said.join("\n"));
    assert.match(said[0], new RegExp(`owner: staying a Node process \\(uses more memory\\): the native owner monitor ${otherMonitor} speaks API version "${MONITOR_API_VERSION + 1}", this heyvm speaks ${MONITOR_API_VERSION}`));
    assert.deepEqual(await askOwner(socketOf(id), { op: "status" }), { ok: true, id, pid, state: "running" });
    const exec = await t.run(["exec", id, "--", "sh", "-c", "echo in; cat"], { input: "piped\n" });
    assert.deepEqual([exec.code, exec.stdout], [0, "in\npiped\n"]);
    const stop = await t.run(["stop", id]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.ok(!isAlive(pid));
    assert.match(readFileSync(join(t.home, "sandboxes", id, "exit.json"), "utf8"), /"reason": "heyvm stop"/);
  });
});
