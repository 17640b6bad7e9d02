// --cpus and --memory (wt, create): declared once, parsed once. The limits are the VM backends'
// (backends/vm-size.ts); core refuses them for a backend that is not a VM.
import { UserError } from "../shared/errors.js";
import { VM_SIZE_LIMITS } from "../backends/vm-size.js";
import type { OptionSpec } from "./command.js";

export interface MachineSizeFlags {
  cpus?: string;
  memory?: string;
}

export const MACHINE_SIZE_OPTIONS: OptionSpec[] = [
  { flags: "--cpus <n>", description: `vCPUs of a VM sandbox (${VM_SIZE_LIMITS.cpus.min}-${VM_SIZE_LIMITS.cpus.max}; default 2 with KVM, 1 without)` },
  { flags: "--memory <size>", description: "memory of a VM sandbox: MiB, or with a unit (512M, 2G; default 1024M)" },
];

const UNITS: Record<string, number> = { "": 1, m: 1, mb: 1, mib: 1, g: 1024, gb: 1024, gib: 1024 };

/** The sizes asked for; a field is left out when its flag was not given. */
export function parseMachineSize(flags: MachineSizeFlags): { cpus?: number; memoryMiB?: number } {
  const size: { cpus?: number; memoryMiB?: number } = {};
  if (flags.cpus !== undefined) {
    const cpus = Number(flags.cpus);
    if (!/^\d+$/.test(flags.cpus) || cpus < VM_SIZE_LIMITS.cpus.min || cpus > VM_SIZE_LIMITS.cpus.max) {
      throw new UserError(`--cpus takes a whole number from ${VM_SIZE_LIMITS.cpus.min} to ${VM_SIZE_LIMITS.cpus.max}, not "${flags.cpus}"`);
    }
    size.cpus = cpus;
  }
  if (flags.memory !== undefined) {
    const match = /^(\d+)\s*([a-z]*)$/i.exec(flags.memory.trim());
    const unit = match ? UNITS[(match[2] ?? "").toLowerCase()] : undefined;
    const mib = match && unit ? Number(match[1]) * unit : NaN;
    if (!Number.isInteger(mib) || mib < VM_SIZE_LIMITS.memoryMiB.min || mib > VM_SIZE_LIMITS.memoryMiB.max) {
      throw new UserError(`--memory takes a size from ${VM_SIZE_LIMITS.memoryMiB.min}M up (e.g. 2048, 512M, 2G), not "${flags.memory}"`);
    }
    size.memoryMiB = mib;
  }
  return size;
}
