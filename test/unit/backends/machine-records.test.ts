// Each backend's typed machine record: what the boot writes reads back the same, a record written
// by an earlier heyvm (for a sandbox still running) still reads, and a field of the wrong type reads
// as null rather than being trusted.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { JsonObject } from "../../../src/shared/json.js";
import { bubblewrapMachineRecord, readBubblewrapMachine, type BubblewrapMachine } from "../../../src/backends/bubblewrap/machine.js";
import { libvirtMachineRecord, readLibvirtMachine, type LibvirtMachine } from "../../../src/backends/libvirt/machine.js";
import { firecrackerMachineRecord, readFirecrackerMachine, type FirecrackerMachine } from "../../../src/backends/firecracker/machine.js";

/** As owner.json holds it: written, then parsed back. */
function onDisk(machine: JsonObject): { machine: JsonObject } {
  return { machine: JSON.parse(JSON.stringify(machine)) as JsonObject };
}

describe("bubblewrap machine record", () => {
  const machine: BubblewrapMachine = {
    initPid: 4242,
    initStartTime: "123456",
    keeperPid: 4243,
    outerPid: 4240,
    outerStartTime: "123450",
    forwards: { "8080": 41000 },
    entryStep: ["/usr/bin/prlimit", "--nproc=1024", "--"],
    limits: { values: { pids: 1024, memoryMiB: 4096, cpus: 2, tmpMiB: 512, homeMiB: 4096 }, set: ["pids 1024"], notSet: [] },
  };

  test("reads back what the boot wrote", () => {
    assert.deepEqual(readBubblewrapMachine(onDisk(bubblewrapMachineRecord({ ...machine, outerPid: 4240 }))), machine);
  });

  test("a record from before the outer user namespace reads as such (no outerPid at all)", () => {
    const old = readBubblewrapMachine(onDisk({ initPid: 4242, initStartTime: "123456", keeperPid: null }));
    assert.equal(old.outerPid, "absent");
    assert.equal(old.initPid, 4242);
    assert.deepEqual(old.entryStep, []);
    assert.deepEqual(old.forwards, {});
    assert.equal(old.limits, null);
  });

  test("an outerPid recorded as null is not a record from before it", () => {
    assert.equal(readBubblewrapMachine(onDisk({ outerPid: null })).outerPid, null);
  });

  test("fields of the wrong type read as null, never trusted", () => {
    const read = readBubblewrapMachine(onDisk({ initPid: "4242", initStartTime: 5, entryStep: ["ok", 3], forwards: { "80": "x", "81": 4100 }, limits: { pids: "many", cpus: 2, set: "all" } }));
    assert.equal(read.initPid, null);
    assert.equal(read.initStartTime, null);
    assert.deepEqual(read.entryStep, []);
    assert.deepEqual(read.forwards, { "81": 4100 });
    assert.deepEqual(read.limits, { values: { cpus: 2 }, set: null, notSet: null });
  });
});

describe("libvirt machine record", () => {
  const machine: LibvirtMachine = { domain: "heyvm-sb-0123abcd", uri: "qemu:///system", accel: "tcg", qemuPid: 777, passtPid: null, forwards: { "3000": 42000 }, limits: { values: { pids: 512, memoryMiB: 2560, cpus: 3 }, set: ["pids 512"], notSet: [] } };

  test("reads back what the boot wrote", () => {
    assert.deepEqual(readLibvirtMachine(onDisk(libvirtMachineRecord(machine))), machine);
  });

  test("an unknown accelerator or a missing domain reads as null", () => {
    const read = readLibvirtMachine(onDisk({ accel: "hvf", qemuPid: "777" }));
    assert.equal(read.accel, null);
    assert.equal(read.domain, null);
    assert.equal(read.qemuPid, null);
  });
});

describe("firecracker machine record", () => {
  const machine: FirecrackerMachine = { firecrackerPid: 888, apiSocket: "/h/sb/firecracker.sock", vsockSocket: "/h/sb/vsock.sock", vcpus: 2, memoryMiB: 1024, network: "tap", tapDevice: "hv0123abcd", forwards: {}, limits: null };

  test("reads back what the boot wrote", () => {
    assert.deepEqual(readFirecrackerMachine(onDisk(firecrackerMachineRecord(machine))), machine);
  });

  test("an empty or absent socket path reads as null (nothing to shut down through)", () => {
    const read = readFirecrackerMachine(onDisk({ apiSocket: "", tapDevice: null }));
    assert.equal(read.apiSocket, null);
    assert.equal(read.vsockSocket, null);
    assert.equal(read.tapDevice, null);
  });
});
