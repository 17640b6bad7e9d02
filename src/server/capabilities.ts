// GET /capabilities: what this server can run, so a client can refuse before slow work of its own
// (--publish-image builds and uploads an image) instead of learning it at deploy time.
import type { Capabilities } from "../cloud/schema.js";
import type { DeploymentServices } from "./context.js";
import { PUBLISHABLE, publishedImageHost } from "./registry/routes.js";

export async function serverCapabilities(services: DeploymentServices): Promise<Capabilities> {
  const [drivers, published] = await Promise.all([
    services.catalog.offers(),
    Promise.all(
      PUBLISHABLE.map(async (backend) => {
        const host = await publishedImageHost(services, backend);
        return "refused" in host ? { backend_type: backend, runs_on: null, reason: host.refused.message } : { backend_type: backend, runs_on: host.backend, reason: null };
      }),
    ),
  ]);
  return { drivers, published_images: published };
}
