// `heyvm resize`: a sandbox's CPUs and memory changed in its record. A VM's machine is sized when
// it boots, so a VM takes the new size at its next start; a running bubblewrap sandbox's cgroup
// bounds are set at once (heyvm as root), its /tmp size (half the memory) at the next start.
import { resizeSandboxCgroup } from "../backends/cgroups.js";
import { VM_SIZE_LIMITS } from "../backends/vm-size.js";
import { sandboxLimits } from "../backends/sandbox-limits.js";
import { UserError } from "../shared/errors.js";
import type { HeyoHome } from "../state/home.js";
import { sandboxStatus } from "../state/status.js";
import { resolveSandbox } from "./catalog.js";
import { SIZE_CLASSES, type SizeClassName } from "./size-class.js";
import { updateSpec } from "./spec-update.js";
import type { SandboxEntry } from "../state/records.js";

export interface ResizeRequest {
  sizeClass?: SizeClassName;
  /** Given explicitly, these win over the size class's. */
  cpus?: number;
  memoryMiB?: number;
}

export interface ResizeResult {
  id: string;
  name: string;
  backend: string;
  cpus: number;
  memory_mib: number;
  size_class: SizeClassName | null;
  running: boolean;
  /** "now": in force already; "next-start": the sandbox takes it when it next starts. */
  applied: "now" | "next-start";
  /** What was set at once and what waits (bubblewrap), in words. */
  notes: string[];
}

/** The sizes asked for, checked; at least one of --size-class, --cpus, --memory. */
export function resolveSize(request: ResizeRequest): { cpus?: number; memoryMiB?: number } {
  const base = request.sizeClass ? SIZE_CLASSES[request.sizeClass] : undefined;
  const cpus = request.cpus ?? base?.cpus;
  const memoryMiB = request.memoryMiB ?? base?.memoryMiB;
  if (cpus === undefined && memoryMiB === undefined) throw new UserError("resize needs --size-class, --cpus or --memory", { hint: "e.g. heyvm resize <id> --size-class medium" });
  const limits = VM_SIZE_LIMITS;
  if (cpus !== undefined && (!Number.isInteger(cpus) || cpus < limits.cpus.min || cpus > limits.cpus.max)) throw new UserError(`--cpus takes a whole number from ${limits.cpus.min} to ${limits.cpus.max}`);
  if (memoryMiB !== undefined && (!Number.isInteger(memoryMiB) || memoryMiB < limits.memoryMiB.min || memoryMiB > limits.memoryMiB.max)) throw new UserError(`--memory takes from ${limits.memoryMiB.min} MiB up`);
  return { ...(cpus === undefined ? {} : { cpus }), ...(memoryMiB === undefined ? {} : { memoryMiB }) };
}

/** Resizes a sandbox already resolved (the CLI by query, the server by its deployment's sandbox). */
export async function resizeEntry(home: HeyoHome, entry: SandboxEntry, request: ResizeRequest): Promise<ResizeResult> {
  const size = resolveSize(request);
  const updated = await updateSpec(home, entry, (spec) => ({
    ...spec,
    cpus: size.cpus ?? spec.cpus,
    memoryMiB: size.memoryMiB ?? spec.memoryMiB,
  }));
  const { spec } = updated;
  const running = (await sandboxStatus(entry.dir)).status !== "stopped";
  const limits = sandboxLimits(spec);
  const result: ResizeResult = {
    id: spec.id,
    name: spec.name,
    backend: spec.backend,
    cpus: spec.cpus ?? limits.cpus,
    memory_mib: spec.memoryMiB ?? limits.memoryMiB,
    size_class: request.sizeClass ?? null,
    running,
    applied: "next-start",
    notes: [],
  };
  if (!running) {
    result.notes.push("the sandbox is stopped: it starts with this size");
    return result;
  }
  if (spec.backend !== "bubblewrap") {
    result.notes.push(`a ${spec.backend} VM is sized when it boots: restart it (heyvm restart ${spec.id}) for this size`);
    return result;
  }
  if (process.getuid?.() !== 0) {
    result.notes.push("heyvm does not run as root, so the sandbox has no cgroup to bound now; recorded for its next start");
    return result;
  }
  const applied = resizeSandboxCgroup(spec.id, limits);
  result.notes.push(...applied.set.map((what) => `${what}: set now`), ...applied.notSet.map((what) => `${what}: not set now`));
  result.notes.push(`/tmp (${limits.tmpMiB} MiB, half the memory): at the next start`);
  if (applied.notSet.length === 0) result.applied = "now";
  return result;
}

export function resizeSandbox(home: HeyoHome, query: string, request: ResizeRequest): Promise<ResizeResult> {
  return resizeEntry(home, resolveSandbox(home, query), request);
}
