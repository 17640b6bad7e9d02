// How one HTTP request is answered: an endpoint's host name or /p/ path goes to the port proxy,
// everything else through the router (401 before 404 or 405), handler errors become JSON replies,
// and one log line is written per request.
import type { IncomingMessage, ServerResponse } from "node:http";
import { NotFoundError, ConflictError, UserError } from "../../shared/errors.js";
import { ArchiveRejectedError } from "../archives/extract.js";
import type { DeploymentServices, LogLine } from "../context.js";
import { endpointOfHost, proxyToEndpoint } from "../deployments/port-proxy.js";
import type { Store } from "../store.js";
import { authenticate } from "../tokens.js";
import { HttpError, bearerToken, drainRequest, errorReply, sendReply, type Reply, type Router } from "./messages.js";

/** What is still read (and dropped) of a refused request's body before the connection is cut. */
const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;
const PROXY_PATH = /^\/p\/(ep-[0-9a-f]+)(\/.*)?$/;

/** Maps an error thrown by a handler to an HTTP answer; unexpected ones are logged with their stack. */
export function toReply(error: unknown, log: LogLine): Reply {
  if (error instanceof HttpError) return errorReply(error);
  if (error instanceof ArchiveRejectedError) return errorReply(new HttpError(422, `archive refused: ${error.message}`, "archive_rejected"));
  if (error instanceof NotFoundError) return errorReply(new HttpError(404, error.message, "not_found"));
  if (error instanceof ConflictError) return errorReply(new HttpError(409, error.message, "conflict"));
  if (error instanceof UserError) return errorReply(new HttpError(422, error.message, "unprocessable"));
  log(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  return errorReply(new HttpError(500, "internal server error (see the server log)", "internal"));
}

/** The request's URL, or undefined when the path does not parse (e.g. "//"). */
export function parseRequestUrl(raw: string | undefined): URL | undefined {
  try {
    return new URL(raw ?? "/", "http://server");
  } catch {
    return undefined;
  }
}

/** The id of the caller's token; throws 401 when it is missing, unknown or revoked. */
export type TokenOf = (req: IncomingMessage) => string;

export function callerTokenOf(store: Store): TokenOf {
  return (req) => {
    const token = bearerToken(req);
    if (!token) throw new HttpError(401, "missing API token (Authorization: Bearer <token>)", "unauthenticated");
    const row = authenticate(store, token);
    if (!row) throw new HttpError(401, "invalid or revoked API token", "unauthenticated");
    return row.id;
  };
}

/** The listener node:http calls for each request. */
export function dispatchRequests(services: DeploymentServices, router: Router, tokenOf: TokenOf): (req: IncomingMessage, res: ServerResponse) => void {
  const { log, config } = services;
  return (req, res) => {
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
  };
}
