// POST /deployed-sandboxes/:id/resize: a deployment's size class changed; its sandbox's record
// takes the class's CPUs and memory (core/resize.ts), which a VM takes at its next start and a
// running bubblewrap sandbox's cgroup at once.
import type { Deployment, SizeClass } from "../../cloud/schema.js";
import { resizeEntry } from "../../core/resize.js";
import type { DeploymentServices } from "../context.js";
import { HttpError } from "../http/messages.js";
import { ownedDeployment } from "../ownership.js";
import { operateOn } from "./lifecycle.js";
import { sandboxOf } from "./status.js";
import { deploymentView } from "./view.js";

export function resizeDeployment(services: DeploymentServices, tokenId: string, id: string, sizeClass: SizeClass): Promise<Deployment> {
  return operateOn(services, tokenId, id, async (row) => {
    if (row.freed) throw new HttpError(409, `${id} has been freed`, "freed");
    const entry = sandboxOf(services, row);
    const applied = entry ? await resizeEntry(services.data.home, entry, { sizeClass }) : undefined;
    services.store.updateDeployment(id, { size_class: sizeClass });
    services.log(`deployment ${id}: resized to ${sizeClass}${applied ? ` (${applied.cpus} cpus, ${applied.memory_mib} MiB, ${applied.applied === "now" ? "in force now" : "at its next start"})` : ""}`);
    return deploymentView(services, ownedDeployment(services.store, tokenId, id));
  });
}
