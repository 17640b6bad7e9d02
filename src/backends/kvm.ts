// Whether hardware virtualisation really works here. /dev/kvm can exist on hosts that cannot run
// a stock guest with it (paravirtual KVM such as kvm_pvm, nested setups without vmx/svm): the
// KVM ioctls even succeed there, but QEMU aborts or hangs. So we require the CPU flag and the
// hardware module, and fall back to software emulation (TCG) otherwise.
import { accessSync, constants, existsSync, readFileSync, readdirSync } from "node:fs";
import { arch } from "node:os";

export interface KvmStatus {
  usable: boolean;
  reason: string;
}

/** The KVM modules loaded here (kvm, kvm_intel, kvm_amd, kvm_pvm…): a report names them. */
export function kvmModules(): string[] {
  try {
    return readdirSync("/sys/module").filter((name) => name === "kvm" || name.startsWith("kvm_")).sort();
  } catch {
    return [];
  }
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
      return { usable: false, reason: "the CPU exposes no vmx/svm flag, so /dev/kvm cannot run stock guests" };
    }
    if (!existsSync("/sys/module/kvm_intel") && !existsSync("/sys/module/kvm_amd")) {
      return { usable: false, reason: "neither kvm_intel nor kvm_amd is loaded, so /dev/kvm cannot run stock guests" };
    }
  }
  return { usable: true, reason: "KVM available" };
}
