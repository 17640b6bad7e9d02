// Cloud-only operations on a deployment (dep-…) by id: fork, checkpoint (cold-store) and restore,
// over the cloud client with the stored credentials.
import { CloudClient } from "../cloud/client.js";
import { resolveCloudUrl, resolveToken } from "../cloud/credentials.js";
import type { Deployment } from "../cloud/schema.js";
import { UserError } from "../shared/errors.js";
import { isCloudId } from "../shared/ids.js";
import type { HeyoHome } from "../state/home.js";

function clientFor(home: HeyoHome): CloudClient {
  return new CloudClient({ baseUrl: resolveCloudUrl(home, undefined), token: resolveToken(home) });
}

function requireCloudId(id: string, command: string): void {
  if (!isCloudId(id)) {
    throw new UserError(`${command} is for cloud sandboxes (dep-…), not "${id}"`, { hint: "a local sandbox keeps its disk when stopped: use `heyvm stop`, and `heyvm snapshot` for an image of it" });
  }
}

export function checkpointCloudSandbox(home: HeyoHome, id: string): Promise<Deployment> {
  requireCloudId(id, "checkpoint");
  return clientFor(home).checkpoint(id);
}

export function restoreCloudSandbox(home: HeyoHome, id: string): Promise<Deployment> {
  requireCloudId(id, "restore");
  return clientFor(home).restore(id);
}

export function forkCloudSandbox(home: HeyoHome, id: string, name: string | undefined): Promise<Deployment> {
  return clientFor(home).fork(id, name === undefined ? {} : { name });
}
