// replace-mount: a deployment's /workspace swapped for the contents of another archive, while
// the sandbox runs (it has the folder itself bound at /workspace, so what is inside is swapped).
import { randomBytes } from "node:crypto";
import { readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Deployment, ReplaceMountRequest } from "../../cloud/schema.js";
import { removeTree } from "../../shared/safe-fs.js";
import type { DeploymentServices } from "../context.js";
import { deploymentView } from "./view.js";
import { ArchiveRejectedError, extractArchive, extractLimitsOf } from "../archives/extract.js";
import { HttpError } from "../http/messages.js";
import { operateOn } from "./lifecycle.js";
import { ownedDeployment, readyArchive } from "../ownership.js";

export function replaceWorkspace(services: DeploymentServices, tokenId: string, id: string, request: ReplaceMountRequest): Promise<Deployment> {
  ownedDeployment(services.store, tokenId, id);
  const archive = readyArchive(services.store, tokenId, request.archive_id);
  return operateOn(services, tokenId, id, async (row) => {
    if (row.freed) throw new HttpError(409, `${id} has been freed`, "freed");
    const workspace = services.data.workspacePath(id);
    const staging = `${workspace}.staging-${randomBytes(3).toString("hex")}`;
    try {
      await extractArchive(services.data.archivePath(archive.id), staging, extractLimitsOf(services.config));
      // the sandbox runs and may swap folders for links meanwhile: removed without following any
      for (const name of readdirSync(workspace)) removeTree(workspace, name);
      for (const name of readdirSync(staging)) renameSync(join(staging, name), join(workspace, name));
    } catch (error) {
      if (error instanceof ArchiveRejectedError) throw new HttpError(422, `archive refused: ${error.message}`, "archive_rejected");
      throw error;
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
    services.store.updateDeployment(id, { archive_id: archive.id });
    services.log(`deployment ${id}: /workspace replaced from ${archive.id}`);
    return deploymentView(services, ownedDeployment(services.store, tokenId, id));
  });
}
