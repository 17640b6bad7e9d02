// The host-side processes of a VM sandbox — QEMU (the firecracker stand-in's, or libvirt's),
// heyvm's virtiofsd, passt, the firecracker sftp-server and its vsock helpers — bounded in
// processes, memory and CPU with the same per-sandbox cgroup as a bubblewrap sandbox
// (cgroups.ts, `heyvm/<id>`): the helpers heyvm starts join it through the entry step before
// they exec; libvirt's QEMU, which libvirtd starts, is moved into the pids
// and memory cgroups (libvirt uses no pids controller, and sets no memory bound in its own).
// Root only: a regular user's VM is bounded by its machine's size, and what is not set is said.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { errorMessage } from "../shared/errors.js";
import { findSystemExecutable } from "../shared/run.js";
import { cgroupHierarchies, createSandboxCgroup, joinWords, removeSandboxCgroup, sandboxCgroupDir } from "./cgroups.js";
import type { VmSize } from "./vm-size.js";

/** Processes and threads on the host side: QEMU's threads, virtiofsd's pool, passt, sftp-servers. */
export const VM_HOST_PIDS = 512;
/** What QEMU needs beside the guest's memory: under TCG its translation cache (up to 1 GiB) too. */
export const VM_OVERHEAD_MIB = { kvm: 512, tcg: 1536 } as const;

export interface VmHostLimits {
  pids: number;
  /** Guest memory plus QEMU's and the helpers' own. */
  memoryMiB: number;
  /** The guest's vCPUs plus one for the helpers. */
  cpus: number;
}

export function vmHostLimits(size: VmSize, kvm: boolean): VmHostLimits {
  return { pids: VM_HOST_PIDS, memoryMiB: size.memoryMiB + (kvm ? VM_OVERHEAD_MIB.kvm : VM_OVERHEAD_MIB.tcg), cpus: size.vcpus + 1 };
}

export interface VmHostBounds {
  limits: VmHostLimits;
  /** Words before a host-side helper's command (it joins the cgroup, then execs it); empty when none. */
  entryStep: string[];
  /** The pids and memory cgroups' cgroup.procs: where a process heyvm did not start (libvirt's QEMU) is moved. */
  moveTo: string[];
  set: string[];
  notSet: string[];
}

/** Makes the sandbox's cgroup for its host-side processes (root), or says why there is none. */
export async function boundVmHost(id: string, size: VmSize, kvm: boolean): Promise<VmHostBounds> {
  const limits = vmHostLimits(size, kvm);
  const sh = findSystemExecutable("sh");
  if ((process.getuid?.() ?? 0) !== 0 || !sh) {
    return { limits, entryStep: [], moveTo: [], set: [], notSet: [`host processes: pids ${limits.pids}, memory ${limits.memoryMiB} MiB, cpus ${limits.cpus} (heyvm runs as uid ${process.getuid?.() ?? "?"}, not root, and has no cgroup it may write; the guest is bounded by its machine: ${size.vcpus} vCPU, ${size.memoryMiB} MiB)`] };
  }
  const hierarchies = cgroupHierarchies();
  const cgroup = await createSandboxCgroup(id, { pids: limits.pids, memoryMiB: limits.memoryMiB, cpus: limits.cpus, tmpMiB: 0, homeMiB: 0 }, hierarchies);
  const moveTo = (["pids", "memory"] as const)
    .filter((controller) => !cgroup.notSet.some((line) => line.startsWith(controller)))
    .flatMap((controller) => {
      const hierarchy = hierarchies.get(controller);
      return hierarchy ? [join(sandboxCgroupDir(hierarchy, id), "cgroup.procs")] : [];
    });
  return {
    limits,
    entryStep: cgroup.procsFiles.length > 0 ? [sh, ...joinWords(cgroup.procsFiles)] : [],
    moveTo: [...new Set(moveTo)],
    set: cgroup.set.map((line) => `host processes: ${line}`),
    notSet: cgroup.notSet.map((line) => `host processes: ${line}`),
  };
}

/** Moves a running process (all its threads) into the sandbox's pids and memory cgroups; why not, if it failed. */
export function moveIntoCgroups(bounds: VmHostBounds, pid: number): string | undefined {
  if (bounds.moveTo.length === 0) return "no pids or memory cgroup";
  try {
    for (const procs of bounds.moveTo) writeFileSync(procs, String(pid));
    return undefined;
  } catch (error) {
    return errorMessage(error);
  }
}

/** Removes the cgroup of a VM sandbox's host processes with what is left in it (root only); what went. */
export async function releaseVmHost(id: string): Promise<string[]> {
  if ((process.getuid?.() ?? 0) !== 0) return [];
  return (await removeSandboxCgroup(id)).map((path) => `cgroup ${path}`);
}
