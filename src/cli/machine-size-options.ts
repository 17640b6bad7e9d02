// --cpus, --memory and --pids (wt, create): declared once, parsed once. The VM limits are
// backends/vm-size.ts's, the process bound backends/sandbox-limits.ts's; core refuses --pids for
// a VM backend.
import { UserError } from "../shared/errors.js";
import { VM_SIZE_LIMITS } from "../backends/vm-size.js";
import { DEFAULT_PIDS, PIDS_LIMITS } from "../backends/sandbox-limits.js";
import type { OptionSpec } from "./command.js";

export interface MachineSizeFlags {
  cpus?: string;
  memory?: string;
  pids?: string;
}

export const MACHINE_SIZE_OPTIONS: OptionSpec[] = [
  { flags: "--cpus <n>", description: `vCPUs of a VM sandbox, or the cores' worth of CPU time a bubblewrap sandbox may use (${VM_SIZE_LIMITS.cpus.min}-${VM_SIZE_LIMITS.cpus.max}; default: VM 2 with KVM, 1 without; bubblewrap every core but one)` },
  { flags: "--memory <size>", description: "memory of the sandbox, /tmp included on bubblewrap: MiB, or with a unit (512M, 2G; default: VM 1024M; bubblewrap 4G, at most half the host's)" },
  { flags: "--pids <n>", description: `processes a bubblewrap sandbox may have at once (${PIDS_LIMITS.min}-${PIDS_LIMITS.max}; default ${DEFAULT_PIDS})` },
];

const UNITS: Record<string, number> = { "": 1, m: 1, mb: 1, mib: 1, g: 1024, gb: 1024, gib: 1024 };

/** The sizes asked for; a field is left out when its flag was not given. */
export function parseMachineSize(flags: MachineSizeFlags): { cpus?: number; memoryMiB?: number; pids?: number } {
  const size: { cpus?: number; memoryMiB?: number; pids?: number } = {};
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
  if (flags.pids !== undefined) {
    const pids = Number(flags.pids);
    if (!/^\d+$/.test(flags.pids) || pids < PIDS_LIMITS.min || pids > PIDS_LIMITS.max) {
      throw new UserError(`--pids takes a whole number of processes from ${PIDS_LIMITS.min} to ${PIDS_LIMITS.max}, not "${flags.pids}"`);
    }
    size.pids = pids;
  }
  return size;
}
