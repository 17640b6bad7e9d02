// start, restart, rm, bind and unbind of a cloud sandbox (dep-…) over the cloud client, answering
// in the shapes the local commands print (issue 21: those commands take dep-… ids too).
import { resolveCloudUrl, resolveToken } from "../cloud/credentials.js";
import { CloudClient } from "../cloud/client.js";
import { isActiveDeployment, type Deployment } from "../cloud/schema.js";
import type { HeyoHome } from "../state/home.js";
import { errorMessage } from "../shared/errors.js";

export function cloudClientFor(home: HeyoHome): CloudClient {
  return new CloudClient({ baseUrl: resolveCloudUrl(home, undefined), token: resolveToken(home) });
}

export function startCloudSandbox(home: HeyoHome, id: string): Promise<Deployment> {
  return cloudClientFor(home).start(id);
}

export function restartCloudSandbox(home: HeyoHome, id: string): Promise<Deployment> {
  return cloudClientFor(home).restart(id);
}

export interface CloudRemoval {
  id: string;
  name: string;
  wasRunning: boolean;
}

export async function removeCloudSandbox(home: HeyoHome, id: string): Promise<CloudRemoval> {
  const client = cloudClientFor(home);
  const before = await client.getDeployment(id);
  await client.remove(id);
  return { id: before.id, name: before.name, wasRunning: isActiveDeployment(before.status) };
}

/** How long `list` waits for the cloud before it shows the local sandboxes alone. */
const LIST_TIMEOUT_MS = 5000;

/** A cloud sandbox as a `list` row beside local ones: the deployment, with backend and state named as locally. */
export type CloudListRow = Deployment & { location: "cloud"; backend: string; state: string };

/**
 * The cloud's sandboxes for `list` (running unless all; only stopped ones with stopped), or why
 * they could not be had: a cloud that is down does not hide the local list.
 */
export async function listCloudRows(home: HeyoHome, options: { all: boolean; stopped: boolean }): Promise<{ rows: CloudListRow[]; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${LIST_TIMEOUT_MS / 1000} s`)), LIST_TIMEOUT_MS);
    });
    const deployments = await Promise.race([cloudClientFor(home).listDeployments(), timeout]);
    const wanted = deployments.filter((d) => (options.stopped ? !isActiveDeployment(d.status) : options.all || isActiveDeployment(d.status)));
    return { rows: wanted.map((d) => ({ ...d, location: "cloud", backend: d.driver ?? "cloud", state: d.status })) };
  } catch (error) {
    return { rows: [], error: errorMessage(error) };
  } finally {
    clearTimeout(timer);
  }
}

/** A cloud port bound: its proxy URL (no host port: the cloud serves it). */
export interface CloudPortBinding {
  port: number;
  host_port: null;
  url: string;
  private: boolean;
}

export async function bindCloudPort(home: HeyoHome, id: string, port: number, isPrivate: boolean): Promise<CloudPortBinding> {
  const endpoint = await cloudClientFor(home).exposePort({ sandbox_id: id, port, is_public: !isPrivate });
  return { port, host_port: null, url: endpoint.url, private: !endpoint.is_public };
}

export async function unbindCloudPort(home: HeyoHome, id: string, port: number): Promise<{ port: number; host_port: null; removed: number }> {
  const answer = await cloudClientFor(home).unexposePort(id, port);
  return { port, host_port: null, removed: answer.removed };
}
