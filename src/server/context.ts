// What every part of a deployment's life shares: the database, the data folder, the settings,
// the drivers on offer, the log, the server's callbacks, the queue that runs one operation at a
// time per deployment, and the active-sandbox quota.
import type { DriverCatalog } from "./catalog.js";
import type { ServerConfig, ServerData } from "./config.js";
import type { DeploymentProgress } from "./deployments/progress.js";
import type { ImageStore } from "./registry/store.js";
import type { OperationQueue } from "./deployments/operation-queue.js";
import type { ActiveQuota } from "./deployments/quota.js";
import type { Store } from "./store.js";

export type LogLine = (line: string) => void;

export interface DeploymentHooks {
  /** Called when a sandbox stops or goes away, so its shell sessions end. */
  onStopped(deploymentId: string): void;
  /** Called for a revoked token, so its shell sessions end at once. */
  onRevoked(tokenId: string): void;
  /** The public URL of an exposed port. */
  endpointUrl(endpointId: string): string;
  /** Whether host:port is this server itself (the proxy never forwards there). */
  isOwnAddress(host: string, port: number): boolean;
}

export interface DeploymentServices {
  store: Store;
  data: ServerData;
  config: ServerConfig;
  catalog: DriverCatalog;
  log: LogLine;
  hooks: DeploymentHooks;
  queue: OperationQueue;
  quota: ActiveQuota;
  /** The image registry's records (server/registry/routes.ts). */
  images: ImageStore;
  /** Each deployment's latest provisioning step, for its view. */
  progress: DeploymentProgress;
}
