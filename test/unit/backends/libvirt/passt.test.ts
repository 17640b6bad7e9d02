// passt's command line (one --tcp-ports per forward: passt before 2023-08 refuses a comma-joined
// list), the line of a helper's log an error quotes (not passt's banner), and whether getfacl's
// text grants QEMU's account search access in effect (a chmod narrows the mask under the entry).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { passtArgs } from "../../../../src/backends/libvirt/passt.js";
import { searchGranted } from "../../../../src/backends/libvirt/access.js";
import { lastErrorLine } from "../../../../src/backends/user-net.js";

const files = { dir: "/n", socket: "/n/passt.sock", pidFile: "/n/passt.pid", log: "/l" };

describe("passt for a VM", () => {
  test("one --tcp-ports option per forward", () => {
    const args = passtArgs(files, [{ host: 40001, guest: 22 }, { host: 40002, guest: 8080 }, { host: 40003, guest: 8081 }]);
    const ports = args.flatMap((arg, i) => (arg === "--tcp-ports" ? [args[i + 1]] : []));
    assert.deepEqual(ports, ["127.0.0.1/40001:22", "127.0.0.1/40002:8080", "127.0.0.1/40003:8081"]);
    assert.ok(!args.some((arg) => arg.includes(",")), "no comma-joined list");
  });

  test("an error quotes passt's last line, not its banner or syslog complaints", () => {
    const log = [
      "Failed to send 61 bytes to syslog",
      "UNIX domain socket bound at /n/passt.sock",
      "",
      "You can now start qemu (>= 7.2, with commit 13c6be96618c):",
      "    kvm ... -device virtio-net-pci,netdev=s -netdev stream,id=s,server=off,addr.type=unix,addr.path=/n/passt.sock",
      "or qrap, for earlier qemu versions:",
      "    ./qrap 5 kvm ... -net socket,fd=5 -net nic,model=virtio",
      "PID file open: Permission denied",
      "",
    ].join("\n");
    assert.equal(lastErrorLine(log), "PID file open: Permission denied");
    assert.equal(lastErrorLine("Failed to send 47 bytes to syslog\nInvalid port specifier 127.0.0.1/1:22,127.0.0.1/2:80\n"), "Invalid port specifier 127.0.0.1/1:22,127.0.0.1/2:80");
  });

  test("a search entry masked by a later chmod does not count as granted", () => {
    assert.equal(searchGranted("user::rwx\nuser:libvirt-qemu:--x\ngroup::---\nmask::--x\n", "libvirt-qemu"), true);
    assert.equal(searchGranted("user::rwx\nuser:libvirt-qemu:--x\t#effective:---\ngroup::---\nmask::---\n", "libvirt-qemu"), false);
    assert.equal(searchGranted("user::rwx\nuser:libvirt-qemu:r-x\t#effective:--x\n", "libvirt-qemu"), true);
    assert.equal(searchGranted("user::rwx\ngroup::---\n", "libvirt-qemu"), false);
  });
});
