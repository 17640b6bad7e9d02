// Firecracker's API rules as the stand-in (test/helpers/firecracker-stand-in.ts) enforces them,
// and heyvm's configuration requests (backends/firecracker/api.ts) accepted under those rules.
// The stand-in runs with HEYVM_STAND_IN_NO_BOOT=1 here: InstanceStart is accepted without
// starting QEMU, so the pre-boot/post-boot rules can be checked in milliseconds. Booting for
// real is test/firecracker.test.ts.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FirecrackerApiError, INSTANCE_START, SEND_CTRL_ALT_DEL, callApi, configurationCalls, connectablePath, type MachinePlan } from "../src/backends/firecracker/api.js";
import { RECORD_FILE, type RecordedRequest } from "./helpers/firecracker-stand-in.js";
import { STAND_IN_SCRIPT } from "./helpers/stand-in-bin.js";
import { HEYVM, hasCommand, waitFor } from "./helpers/env.js";
import { vsockHelper } from "../src/backends/firecracker/host-side.js";

/** One raw HTTP exchange on the socket, for what node's client would never send. */
function rawRequest(socketPath: string, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let answer = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      answer += chunk;
      if (/\r\n\r\n/.test(answer) && (/Content-Length: 0\r\n|^HTTP\/1.1 204/.test(answer) || /\}$/.test(answer))) socket.end();
    });
    socket.on("end", () => resolve(answer));
    socket.on("error", reject);
    socket.write(text);
  });
}

async function refusal(promise: Promise<unknown>): Promise<FirecrackerApiError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof FirecrackerApiError, `expected a refusal, got ${String(error)}`);
    assert.equal(error.status, 400);
    return error;
  }
  assert.fail("the request was accepted");
}

describe("heyvm backends", () => {
  test("says why firecracker is missing, and that a stand-in is degraded, never the default", async () => {
    const root = mkdtempSync(join(tmpdir(), "heyvm-backends-"));
    try {
      const { writeStandInExecutable } = await import("./helpers/stand-in-bin.js");
      const standIn = writeStandInExecutable(root);
      const run = (env: NodeJS.ProcessEnv) => {
        const result = spawnSync(HEYVM, ["backends", "--format", "json"], { encoding: "utf8", env: { ...process.env, HEYO_HOME: join(root, "heyo"), ...env } });
        assert.equal(result.status, 0, result.stderr);
        return JSON.parse(result.stdout) as Array<{ name: string; status: string; reason: string | null; hint: string | null; default: boolean }>;
      };
      const missing = run({ HEYVM_FIRECRACKER: join(root, "no-such-firecracker") }).find((row) => row.name === "firecracker");
      assert.equal(missing?.status, "missing");
      assert.match(missing?.reason ?? "", /HEYVM_FIRECRACKER .* is not an executable/);
      assert.match(missing?.hint ?? "", /install Firecracker/);
      const rows = run({ HEYVM_FIRECRACKER: standIn });
      assert.deepEqual(rows.map((row) => row.name), ["bubblewrap", "libvirt", "firecracker", "apple_virt"]);
      const firecracker = rows.find((row) => row.name === "firecracker");
      if (process.platform === "linux" && hasCommand("setpriv") && hasCommand("bwrap") && vsockHelper()) {
        assert.equal(firecracker?.status, "degraded");
        assert.match(firecracker?.reason ?? "", /stand-in, not Firecracker/);
      }
      assert.equal(firecracker?.default, false);
      assert.equal(rows.filter((row) => row.default).length <= 1, true);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("Firecracker's API rules (stand-in, no boot)", () => {
  let root = "";
  let socket = "";
  let standIn: ChildProcess;
  let plan: MachinePlan;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), "heyvm-fcapi-"));
    socket = join(root, "firecracker.sock");
    for (const file of ["vmlinux", "initrd", "rootfs.ext4", "config.tar", "firecracker.log"]) writeFileSync(join(root, file), "x");
    plan = {
      kernel: join(root, "vmlinux"), initrd: join(root, "initrd"), bootArgs: "console=ttyS0 reboot=k panic=1 pci=off",
      rootfs: join(root, "rootfs.ext4"), configDrive: join(root, "config.tar"), vcpus: 2, memoryMiB: 512,
      vsockUds: "vsock.sock", guestCid: 3, logPath: "firecracker.log", tap: null,
    };
    standIn = spawn(process.execPath, [STAND_IN_SCRIPT, "--api-sock", "firecracker.sock", "--id", "api-test"], { cwd: root, env: { ...process.env, HEYVM_STAND_IN_NO_BOOT: "1" }, stdio: "ignore" });
    await waitFor(() => existsSync(socket), 10_000, "the API socket");
  });
  after(() => {
    standIn.kill("SIGKILL");
    rmSync(root, { recursive: true, force: true });
  });

  test("GET / describes a machine not started yet", async () => {
    const info = await callApi(socket, { method: "GET", path: "/" });
    assert.deepEqual({ id: info?.id, state: info?.state, app_name: info?.app_name }, { id: "api-test", state: "Not started", app_name: "Firecracker" });
  });

  test("bad input is refused with 400 and a fault_message", async () => {
    assert.match((await refusal(callApi(socket, { method: "PUT", path: "/boot-source", body: { boot_args: "x" } }))).fault, /missing field `kernel_image_path`/);
    assert.match((await refusal(callApi(socket, { method: "PUT", path: "/boot-source", body: { kernel_image_path: plan.kernel, kernel: "x" } }))).fault, /unknown field `kernel`/);
    assert.match((await refusal(callApi(socket, { method: "PUT", path: "/boot-source", body: { kernel_image_path: join(root, "missing") } }))).fault, /kernel file cannot be opened/);
    assert.match((await refusal(callApi(socket, { method: "PUT", path: "/drives/rootfs", body: { drive_id: "other", path_on_host: plan.rootfs, is_root_device: true, is_read_only: false } }))).fault, /does not match/);
    assert.match((await refusal(callApi(socket, { method: "PUT", path: "/drives/rootfs", body: { drive_id: "rootfs", path_on_host: plan.rootfs, is_root_device: true } }))).fault, /missing field `is_read_only`/);
    assert.match((await refusal(callApi(socket, { method: "PUT", path: "/machine-config", body: { vcpu_count: 0, mem_size_mib: 128 } }))).fault, /vCPU number is invalid/);
    assert.match((await refusal(callApi(socket, { method: "PUT", path: "/logger", body: { log_path: join(root, "no-such.log") } }))).fault, /Failed to open target file/);
    assert.match((await refusal(callApi(socket, { method: "PUT", path: "/vsock", body: { guest_cid: 2, uds_path: "v.sock" } }))).fault, /invalid guest CID/);
    assert.match((await refusal(callApi(socket, { method: "GET", path: "/no-such-thing" }))).fault, /Invalid request method and\/or path: GET \/no-such-thing/);
    assert.match((await refusal(callApi(socket, SEND_CTRL_ALT_DEL))).fault, /not supported before starting/);
    assert.match((await refusal(callApi(socket, { method: "PUT", path: "/actions", body: { action_type: "Reboot" } }))).fault, /unknown variant `Reboot`/);
  });

  test("a body needs a Content-Length, and a PUT needs a body", async () => {
    const body = JSON.stringify({ vcpu_count: 1, mem_size_mib: 128, smt: false });
    const chunked = await rawRequest(socket, `PUT /machine-config HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`);
    assert.match(chunked, /^HTTP\/1.1 400/);
    assert.match(chunked, /Content-Length header is required/);
    const empty = await rawRequest(socket, "PUT /machine-config HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
    assert.match(empty, /^HTTP\/1.1 400/);
    assert.match(empty, /Empty PUT request/);
  });

  test("heyvm's configuration requests are accepted with 204 and no body, in order, then InstanceStart", async () => {
    const before = readFileSync(join(root, RECORD_FILE), "utf8").split("\n").filter(Boolean).length;
    for (const call of [...configurationCalls(plan), INSTANCE_START]) assert.equal(await callApi(socket, call), undefined, `${call.method} ${call.path}`);
    const recorded = readFileSync(join(root, RECORD_FILE), "utf8").split("\n").filter(Boolean).slice(before).map((line) => JSON.parse(line) as RecordedRequest);
    assert.deepEqual(recorded.map((r) => `${r.method} ${r.path} ${r.status}`), [
      "PUT /logger 204", "PUT /boot-source 204", "PUT /drives/rootfs 204", "PUT /drives/config 204", "PUT /machine-config 204", "PUT /vsock 204", "PUT /actions 204",
    ]);
    assert.ok(existsSync(join(root, "vsock.sock")), "the vsock socket is bound");
    const info = await callApi(socket, { method: "GET", path: "/" });
    assert.equal(info?.state, "Running");
  });

  test("after InstanceStart, pre-boot-only calls are refused and post-boot ones are taken", async () => {
    for (const call of configurationCalls(plan)) {
      assert.match((await refusal(callApi(socket, call))).fault, /not supported after starting the microVM/, `${call.method} ${call.path}`);
    }
    assert.match((await refusal(callApi(socket, INSTANCE_START))).fault, /not supported after starting/);
    assert.equal(await callApi(socket, { method: "PATCH", path: "/drives/rootfs", body: { drive_id: "rootfs", path_on_host: plan.rootfs } }), undefined);
    assert.equal(await callApi(socket, SEND_CTRL_ALT_DEL), undefined);
  });

  test("a socket path longer than sockaddr_un holds is reached through its folder", async () => {
    const deep = join(root, "d".repeat(60), "e".repeat(60));
    const long = join(deep, "firecracker.sock");
    assert.ok(Buffer.byteLength(long) > 107);
    const { mkdirSync } = await import("node:fs");
    mkdirSync(deep, { recursive: true });
    const second = spawn(process.execPath, [STAND_IN_SCRIPT, "--api-sock", "firecracker.sock"], { cwd: deep, env: { ...process.env, HEYVM_STAND_IN_NO_BOOT: "1" }, stdio: "ignore" });
    try {
      await waitFor(() => existsSync(long), 10_000, "the deep API socket");
      assert.match(connectablePath(long), /^\/proc\/self\/fd\/\d+\/firecracker\.sock$/);
      assert.equal((await callApi(long, { method: "GET", path: "/" }))?.state, "Not started");
    } finally {
      second.kill("SIGKILL");
    }
  });
});
