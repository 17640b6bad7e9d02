// A deployment as the API shows it (the shared schema's Deployment), from its row and what
// really runs. Reading never writes: see currentRow.
import type { Deployment } from "../../cloud/schema.js";
import type { DeploymentServices } from "../context.js";
import { currentRow } from "./status.js";
import { publishedImageFacts } from "../registry/routes.js";
import { endpointAddress } from "./port-proxy.js";
import type { DeploymentRow } from "../store.js";

export async function deploymentView(services: DeploymentServices, row: DeploymentRow): Promise<Deployment> {
  const current = await currentRow(services, row);
  const uptime = current.status === "running" && current.started_at ? Math.max(0, Math.round((Date.now() - Date.parse(current.started_at)) / 1000)) : null;
  return {
    id: current.id,
    name: current.name,
    status: current.status,
    image: current.image,
    region: current.region,
    size_class: current.size_class,
    driver: current.driver,
    ttl_seconds: current.ttl_seconds,
    uptime_secs: uptime,
    error_message: current.error_message,
    urls: services.store.endpointsOf(current.id).map((e) => {
      const { url, hostname, subdomain } = endpointAddress(services, e.id);
      return { url, port: e.port, is_public: Boolean(e.is_public), hostname, subdomain };
    }),
    created_at: current.created_at,
    started_at: current.started_at,
    expires_at: current.expires_at,
    archive_id: current.archive_id,
    // while an operation (provisioning, a start) is under way: its latest step
    progress: services.queue.busy(current.id) ? services.progress.of(current.id) : null,
    ...publishedImageFacts(services, current.id),
  };
}

export function deploymentViews(services: DeploymentServices, tokenId: string): Promise<Deployment[]> {
  return Promise.all(services.store.deploymentsOf(tokenId).map((row) => deploymentView(services, row)));
}
