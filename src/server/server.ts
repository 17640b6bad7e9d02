// The self-hostable cloud server: the routes of ARCHITECTURE.md §5 over plain node:http, the shell stream
// over ws, state in SQLite, sandboxes run by heyvm's own backends on this host. One log line per
// request and one per sandbox state change go to the injected log function. startCloudServer only
// composes the parts: each step below builds its own piece.
import { createServer, type Server } from "node:http";
import { detectBackend } from "../backends/registry.js";
import { removeUploadParts, UploadGuard } from "./archives/uploads.js";
import { loadOrCreateSecret } from "./archives/signing.js";
import { DriverCatalog } from "./catalog.js";
import { ServerData, type ServerConfig } from "./config.js";
import type { DeploymentServices, LogLine } from "./context.js";
import { ConcurrencyCap } from "./deployments/limits.js";
import { OperationQueue } from "./deployments/operation-queue.js";
import { endpointOrigin } from "./deployments/port-proxy.js";
import { DeploymentProgress } from "./deployments/progress.js";
import { ActiveQuota } from "./deployments/quota.js";
import { ShellSessions } from "./deployments/shell.js";
import { reconcileDeployments, startSweeping } from "./deployments/sweep.js";
import { callerTokenOf, dispatchRequests } from "./http/dispatch.js";
import { listenExclusively, type Listening } from "./http/listen.js";
import type { Router } from "./http/messages.js";
import { buildRoutes } from "./http/routes.js";
import { wireShellUpgrades, type ShellUpgrades } from "./http/upgrade.js";
import { settleMemoryWhenGrown } from "./memory-settle.js";
import { ImageStore } from "./registry/store.js";
import { Store } from "./store.js";

export interface RunningServer {
  url: string;
  port: number;
  /** Stops accepting requests and ends shell sessions; deployed sandboxes keep running. */
  close(): Promise<void>;
}

/** The server's own address: known once it listens (the proxy's loop check and endpoint URLs need it). */
interface ServerAddress {
  publicUrl: string;
  listening?: Listening;
}

export async function startCloudServer(config: ServerConfig, logLine: LogLine): Promise<RunningServer> {
  const log: LogLine = (line) => logLine(`${new Date().toISOString()} ${line}`);
  const data = new ServerData(config.dataDir);
  data.ensure();
  const store = new Store(data.database);
  const address: ServerAddress = { publicUrl: config.publicUrl?.replace(/\/+$/, "") ?? "" };
  const shells = new ShellSessions(config.shellGraceMs, log, config.shellStallMs);
  const services = makeServices({ config, data, store, log, shells, address });
  const router = makeRouter(services, address);
  const tokenOf = callerTokenOf(store);
  const server = createServer(dispatchRequests(services, router, tokenOf));
  const upgrades = wireShellUpgrades(server, services, shells, tokenOf, loadOrCreateSecret(data.secretFile));
  await recoverFromEarlierRun(services);
  const listening = await listenExclusively(server, config.host, config.port).catch((error: unknown) => {
    store.close();
    throw error;
  });
  address.listening = listening;
  const url = `http://${listening.urlHost}:${listening.port}`;
  address.publicUrl ||= url;
  log(`heyvm cloud server listening on ${url} (data ${data.root})`);
  const stopSweeping = startSweeping(services);
  const stopSettling = settleMemoryWhenGrown(log);
  const stopTimers = () => {
    stopSweeping();
    stopSettling();
  };
  return { url, port: listening.port, close: () => closeServer({ server, listening, services, shells, upgrades, stopTimers }) };
}

/** What every route and operation shares: the stores, the catalog, the queue, the quota and the server's callbacks. */
function makeServices(parts: { config: ServerConfig; data: ServerData; store: Store; log: LogLine; shells: ShellSessions; address: ServerAddress }): DeploymentServices {
  const { config, data, store, log, shells, address } = parts;
  const catalog = new DriverCatalog(config.images, async (name) => {
    const availability = await (await detectBackend(name)).probe();
    return availability.usable ? { usable: true } : { usable: false, reason: `${availability.reason} (${availability.hint})` };
  });
  return {
    store,
    data,
    config,
    catalog,
    log,
    hooks: {
      onStopped: (id) => shells.endFor(id),
      onRevoked: (tokenId) => shells.endForToken(tokenId),
      endpointUrl: (id) => endpointOrigin(address.publicUrl, id, config.domain),
      isOwnAddress: (host, port) => address.listening?.isOwnAddress(host, port) ?? false,
    },
    queue: new OperationQueue(),
    quota: new ActiveQuota(store, config.maxActivePerToken),
    images: new ImageStore(data.database),
    progress: new DeploymentProgress(),
  };
}

/** The API's routes, with what only they need: the upload signing secret, the upload guard and the exec caps. */
function makeRouter(services: DeploymentServices, address: ServerAddress): Router {
  const { config, data } = services;
  const secret = loadOrCreateSecret(data.secretFile);
  const execCap = new ConcurrencyCap("execs", config.maxExecsPerToken, config.maxExecs);
  return buildRoutes({ ...services, secret, uploads: new UploadGuard(), publicUrl: () => address.publicUrl, execCap });
}

/** Before listening: deployments the last run left mid-operation are settled and its partial uploads removed. */
async function recoverFromEarlierRun(services: DeploymentServices): Promise<void> {
  await reconcileDeployments(services, "server restarted");
  const parts = removeUploadParts(services.data); // no upload is under way before the server listens
  if (parts > 0) services.log(`removed ${parts} partial upload(s) left by an earlier run`);
}

/** Stops the sweep and the memory check, ends shells, stops listening, lets queued operations finish, then closes the stores. */
async function closeServer(parts: { server: Server; listening: Listening; services: DeploymentServices; shells: ShellSessions; upgrades: ShellUpgrades; stopTimers: () => void }): Promise<void> {
  const { server, listening, services, shells, upgrades, stopTimers } = parts;
  stopTimers();
  shells.endAll();
  upgrades.terminateAll();
  await listening.close();
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  await services.queue.drain();
  services.images.close();
  services.store.close();
}
