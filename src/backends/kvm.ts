// Whether hardware virtualisation really works here. /dev/kvm can exist on hosts that cannot run
// a guest with it (nested setups without vmx/svm): QEMU then aborts or hangs, so we require the
// CPU flag too, and fall back to software emulation (TCG) otherwise.
import { accessSync, constants, readFileSync } from "node:fs";
import { arch } from "node:os";

export interface KvmStatus {
  usable: boolean;
  reason: string;
}

export function kvmStatus(): KvmStatus {
  if (process.platform !== "linux") return { usable: false, reason: "KVM is Linux-only" };
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
  } catch {
    return { usable: false, reason: "/dev/kvm is missing or not read-writable by this user" };
  }
  if (arch() === "x64") {
    let cpuinfo = "";
    try {
      cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
    } catch {
      return { usable: false, reason: "cannot read /proc/cpuinfo" };
    }
    if (!/^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo)) {
      return { usable: false, reason: "the CPU exposes no vmx/svm flag, so /dev/kvm cannot run guests (nested virtualisation is off)" };
    }
  }
  return { usable: true, reason: "KVM available" };
}
