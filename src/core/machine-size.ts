// --cpus and --memory size a virtual machine, or bound a bubblewrap sandbox's cgroup; --pids
// bounds a bubblewrap sandbox's processes (a VM's processes live in its own kernel and memory).
import type { Backend } from "../backends/types.js";
import { UserError } from "../shared/errors.js";

export function refuseMachineSize(backend: Backend, request: { cpus?: number; memoryMiB?: number; pids?: number }): void {
  if (!backend.features.virtualMachine || request.pids === undefined) return;
  throw new UserError(`the ${backend.name} backend runs a virtual machine, whose processes its own kernel bounds within --memory, so it takes no --pids`, { hint: "leave out --pids, or choose --backend bubblewrap" });
}
