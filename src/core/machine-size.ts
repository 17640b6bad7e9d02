// --cpus and --memory size a virtual machine; a namespace sandbox has no machine to size.
import type { Backend } from "../backends/types.js";
import { UserError } from "../shared/errors.js";

export function refuseMachineSize(backend: Backend, request: { cpus?: number; memoryMiB?: number }): void {
  if (backend.features.virtualMachine || (request.cpus === undefined && request.memoryMiB === undefined)) return;
  throw new UserError(`the ${backend.name} backend runs no virtual machine, so it takes no --cpus or --memory`, { hint: "leave them out, or choose --backend firecracker or libvirt" });
}
