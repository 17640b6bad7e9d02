// The self-hostable cloud server: the routes of ARCHITECTURE.md §5 over plain node:http, the shell stream
// over ws, state in SQLite, sandboxes run by heyvm's own backends on this host. One log line per
// request and one per sandbox state change go to the injected log function.
import { createServer, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { detectBackend } from "../backends/registry.js";
import { workspaceShellCommand } from "../core/workspace-sandbox.js";
import { NotFoundError, ConflictError, UserError } from "../shared/errors.js";
import { DriverCatalog } from "./catalog.js";
import { ServerData, type ServerConfig } from "./config.js";
import type { DeploymentServices, LogLine } from "./context.js";
import { ArchiveRejectedError } from "./archives/extract.js";
import { HttpError, bearerToken, drainRequest, errorReply, sendReply, type Reply } from "./http/messages.js";
import { listenExclusively, type Listening } from "./http/listen.js";
import { OperationQueue } from "./deployments/operation-queue.js";
import { endpointOfHost, endpointOrigin, proxyToEndpoint } from "./deployments/port-proxy.js";
import { ActiveQuota } from "./deployments/quota.js";
import { ConcurrencyCap } from "./deployments/limits.js";
import { buildRoutes } from "./http/routes.js";
import { runningSandbox } from "./deployments/exec.js";
import { ShellSessions } from "./deployments/shell.js";
import { loadOrCreateSecret } from "./archives/signing.js";
import { ImageStore } from "./registry/store.js";
import { DeploymentProgress } from "./deployments/progress.js";
import { Store } from "./store.js";
import { reconcileDeployments, startSweeping } from "./deployments/sweep.js";
import { authenticate } from "./tokens.js";
import { UploadGuard, removeUploadParts } from "./archives/uploads.js";

export interface RunningServer {
  url: string;
  port: number;
  /** Stops accepting requests and ends shell sessions; deployed sandboxes keep running. */
  close(): Promise<void>;
}

const SHELL_PATH = /^\/deployed-sandboxes\/([^/]+)\/shell-stream$/;
/** What is still read (and dropped) of a refused request's body before the connection is cut. */
const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;
const PROXY_PATH = /^\/p\/(ep-[0-9a-f]+)(\/.*)?$/;

/** Maps an error thrown by a handler to an HTTP answer; unexpected ones are logged with their stack. */
function toReply(error: unknown, log: LogLine): Reply {
  if (error instanceof HttpError) return errorReply(error);
  if (error instanceof ArchiveRejectedError) return errorReply(new HttpError(422, `archive refused: ${error.message}`, "archive_rejected"));
  if (error instanceof NotFoundError) return errorReply(new HttpError(404, error.message, "not_found"));
  if (error instanceof ConflictError) return errorReply(new HttpError(409, error.message, "conflict"));
  if (error instanceof UserError) return errorReply(new HttpError(422, error.message, "unprocessable"));
  log(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  return errorReply(new HttpError(500, "internal server error (see the server log)", "internal"));
}

/** The request's URL, or undefined when the path does not parse (e.g. "//"). */
function parseRequestUrl(raw: string | undefined): URL | undefined {
  try {
    return new URL(raw ?? "/", "http://server");
  } catch {
    return undefined;
  }
}

export async function startCloudServer(config: ServerConfig, logLine: LogLine): Promise<RunningServer> {
  const log: LogLine = (line) => logLine(`${new Date().toISOString()} ${line}`);
  const data = new ServerData(config.dataDir);
  data.ensure();
  const store = new Store(data.database);
  const secret = loadOrCreateSecret(data.secretFile);
  let publicUrl = config.publicUrl?.replace(/\/+$/, "") ?? "";
  /** Where the server listens, once it does (the proxy's loop check needs it). */
  const bound: { listening?: Listening } = {};
  const shells = new ShellSessions(config.shellGraceMs, log, config.shellStallMs);
  const shellCap = new ConcurrencyCap("shell sessions", config.maxShellsPerToken, config.maxShells);
  const execCap = new ConcurrencyCap("execs", config.maxExecsPerToken, config.maxExecs);
  const catalog = new DriverCatalog(config.images, async (name) => {
    const availability = await (await detectBackend(name)).probe();
    return availability.usable ? { usable: true } : { usable: false, reason: `${availability.reason} (${availability.hint})` };
  });
  const services: DeploymentServices = {
    store,
    data,
    config,
    catalog,
    log,
    hooks: {
      onStopped: (id) => shells.endFor(id),
      onRevoked: (tokenId) => shells.endForToken(tokenId),
      endpointUrl: (id) => endpointOrigin(publicUrl, id, config.domain),
      isOwnAddress: (host, port) => bound.listening?.isOwnAddress(host, port) ?? false,
    },
    queue: new OperationQueue(),
    quota: new ActiveQuota(store, config.maxActivePerToken),
    images: new ImageStore(data.database),
    progress: new DeploymentProgress(),
  };
  const uploads = new UploadGuard();
  const router = buildRoutes({ ...services, secret, uploads, publicUrl: () => publicUrl, execCap });

  const tokenOf = (req: IncomingMessage): string => {
    const token = bearerToken(req);
    if (!token) throw new HttpError(401, "missing API token (Authorization: Bearer <token>)", "unauthenticated");
    const row = authenticate(store, token);
    if (!row) throw new HttpError(401, "invalid or revoked API token", "unauthenticated");
    return row.id;
  };

  const server = createServer((req, res) => {
    const started = performance.now();
    // read now: once the client is gone the socket may be detached (req.socket is then null)
    const remote = req.socket?.remoteAddress ?? "-";
    req.on("error", () => undefined); // a client that hangs up mid-body is not the server's error
    const url = parseRequestUrl(req.url);
    if (!url) {
      sendReply(res, errorReply(new HttpError(400, "the request path is not a valid URL", "bad_request")));
      drainRequest(req, DRAIN_LIMIT_BYTES);
      log(`${remote} ${req.method} (unparsable path) 400`);
      return;
    }
    let tokenId = "-";
    res.on("finish", () => {
      log(`${remote} ${req.method} ${url.pathname} ${res.statusCode} ${Math.round(performance.now() - started)}ms ${tokenId}`);
    });
    const aborter = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) aborter.abort();
    });
    const handle = async (): Promise<Reply> => {
      // an endpoint's own host name: everything there is the tenant's, none of it the API
      const endpointId = endpointOfHost(req.headers.host, config.domain);
      if (endpointId) return proxyToEndpoint(services, { req, res, endpointId, path: `${url.pathname}${url.search}`, callerToken: () => tokenOf(req) });
      const proxied = PROXY_PATH.exec(url.pathname);
      if (proxied) return proxyToEndpoint(services, { req, res, endpointId: proxied[1] ?? "", path: `${proxied[2] ?? "/"}${url.search}`, callerToken: () => tokenOf(req), sandboxed: true });
      const match = router.match(req.method ?? "GET", url.pathname);
      if (!match.route) {
        tokenId = tokenOf(req); // without a valid token, no caller learns which routes exist: 401 before 404 or 405
        if (match.methods.length > 0) throw new HttpError(405, `${req.method} is not allowed here (use ${match.methods.join(", ")})`, "method_not_allowed");
        throw new HttpError(404, `no route ${req.method} ${url.pathname}`, "not_found");
      }
      if (match.route.auth) tokenId = tokenOf(req);
      return match.route.handler({ req, res, url, params: match.params, tokenId, signal: aborter.signal });
    };
    handle()
      .catch((error: unknown) => toReply(error, log))
      .then((reply) => {
        if (!res.headersSent) sendReply(res, reply);
        else if (!("sent" in reply)) res.end();
        drainRequest(req, DRAIN_LIMIT_BYTES); // what a refused request still sends
      })
      .catch(() => res.destroy());
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // node hands the socket over without an error listener: a client's reset would end the server
    socket.on("error", () => socket.destroy());
    const remote = req.socket?.remoteAddress ?? "-";
    const url = parseRequestUrl(req.url) ?? new URL("http://server/invalid");
    const started = performance.now();
    const refuse = (error: unknown) => {
      const reply = toReply(error, log);
      const status = "status" in reply ? reply.status : 500;
      const body = "json" in reply ? JSON.stringify(reply.json) : "";
      if (socket.writable) socket.end(`HTTP/1.1 ${status} Refused\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      else socket.destroy();
      log(`${remote} GET ${url.pathname} (websocket) ${status} ${Math.round(performance.now() - started)}ms`);
    };
    const match = SHELL_PATH.exec(url.pathname);
    let tokenId: string;
    try {
      tokenId = tokenOf(req); // as for requests: 401 before 404
    } catch (error) {
      return refuse(error);
    }
    if (!match) return refuse(new HttpError(404, `no websocket route ${url.pathname}`, "not_found"));
    let deploymentId: string;
    try {
      deploymentId = decodeURIComponent(match[1] ?? "");
    } catch {
      return refuse(new HttpError(400, "the sandbox id in the path is not valid", "bad_request"));
    }
    let release: () => void;
    try {
      release = shellCap.take(tokenId);
    } catch (error) {
      return refuse(error);
    }
    let served = false; // from then on the shell session gives the place back
    socket.once("close", () => {
      if (!served) release();
    });
    runningSandbox(services, tokenId, deploymentId)
      .then(({ entry }) => {
        if (socket.destroyed) return release(); // the client left while the sandbox was looked up
        wss.handleUpgrade(req, socket, head, (ws) => {
          served = true;
          log(`${remote} GET ${url.pathname} (websocket) 101 ${Math.round(performance.now() - started)}ms ${tokenId}`);
          shells.serve(ws, { tokenId, deploymentId, command: (options) => workspaceShellCommand(entry, { tty: true, cwd: options.cwd, env: options.env }) }, release);
        });
      })
      .catch((error: unknown) => {
        release();
        refuse(error);
      });
  });

  await reconcileDeployments(services, "server restarted");
  const parts = removeUploadParts(data); // no upload is under way before the server listens
  if (parts > 0) log(`removed ${parts} partial upload(s) left by an earlier run`);
  const listening = await listenExclusively(server, config.host, config.port).catch((error: unknown) => {
    store.close();
    throw error;
  });
  bound.listening = listening;
  const host = listening.urlHost;
  publicUrl ||= `http://${host}:${listening.port}`;
  log(`heyvm cloud server listening on http://${host}:${listening.port} (data ${data.root})`);

  const stopSweeping = startSweeping(services);

  return {
    url: `http://${host}:${listening.port}`,
    port: listening.port,
    async close() {
      stopSweeping();
      shells.endAll();
      for (const client of wss.clients) client.terminate();
      await listening.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await services.queue.drain();
      services.images.close();
      store.close();
    },
  };
}
