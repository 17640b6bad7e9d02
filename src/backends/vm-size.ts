// How big a VM sandbox's machine is: what `--cpus`/`--memory` asked for (sandbox.json), else
// HEYVM_VM_CPUS / HEYVM_VM_MEMORY_MIB, else 2 vCPUs with KVM (1 under software emulation, where
// a second one only adds contention) and 1024 MiB. One rule for every VM backend.
import { cpus } from "node:os";
import type { SandboxSpec } from "../state/records.js";

export interface VmSize {
  vcpus: number;
  memoryMiB: number;
}

/** The limits heyvm accepts for --cpus and --memory (Firecracker's: 1–32 vCPUs). */
export const VM_SIZE_LIMITS = { cpus: { min: 1, max: 32 }, memoryMiB: { min: 128, max: 1024 * 1024 } } as const;

function fromEnv(name: string): number | undefined {
  const value = Number(process.env[name]);
  return Number.isInteger(value) && value > 0 ? value : undefined;
}

export function vmSize(spec: Pick<SandboxSpec, "cpus" | "memoryMiB">, kvmUsable: boolean): VmSize {
  const asked = spec.cpus ?? fromEnv("HEYVM_VM_CPUS") ?? (kvmUsable ? 2 : 1);
  // an explicit --cpus is honoured as asked; the default never exceeds the host's cores
  const vcpus = spec.cpus ?? Math.min(asked, cpus().length);
  const memoryMiB = spec.memoryMiB ?? fromEnv("HEYVM_VM_MEMORY_MIB") ?? 1024;
  return {
    vcpus: Math.max(VM_SIZE_LIMITS.cpus.min, Math.min(VM_SIZE_LIMITS.cpus.max, vcpus)),
    memoryMiB: Math.max(VM_SIZE_LIMITS.memoryMiB.min, Math.min(VM_SIZE_LIMITS.memoryMiB.max, memoryMiB)),
  };
}
