// Exposed ports: an endpoint id per (deployment, port, public or not), and the proxy that
// forwards requests for it to that port of the running sandbox. Each endpoint has its own host
// name, <endpoint>.<domain> (heyvm server --domain; browsers resolve *.localhost to loopback), so
// its pages are an origin of their own: one tenant's page cannot script another's or the API's.
// The older path form, /p/<endpoint>/... on the API's origin, still answers, but under
// `Content-Security-Policy: sandbox` (no allow-same-origin): its pages run in an opaque origin. How the port is reached from
// this host is the backend's business (workspacePortEndpoint); nothing here is backend-specific.
// A port the backend did not forward at boot is reached through a connector run inside the
// sandbox per request (guest-relay.ts), counted against the endpoint owner's relay cap.
// The proxy never forwards to the server's own address, and a request that already went
// through it is refused, so no endpoint can make the server call itself (a loop of hops).
import { randomBytes } from "node:crypto";
import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { HostEndpoint } from "../../backends/types.js";
import type { SandboxEntry } from "../../core/catalog.js";
import { isWorkspaceSandboxRunning, openWorkspaceSandbox, workspacePortEndpoint } from "../../core/workspace-sandbox.js";
import type { DeploymentServices } from "../context.js";
import { HttpError, errorReply, sendReply, type Reply } from "../http/messages.js";
import { runningSandbox } from "./exec.js";
import { openDeploymentPort } from "./guest-relay.js";
import type { DeploymentRow } from "../store.js";

export interface EndpointAddress {
  url: string;
  /** The host name the endpoint is served under (the URL's host). */
  hostname: string;
  /** The endpoint's own label in that name: its id. */
  subdomain: string;
}

/** Where an endpoint answers, the one place its url, hostname and subdomain are derived (the API shows all three). */
export function endpointAddress(services: DeploymentServices, endpointId: string): EndpointAddress {
  const url = services.hooks.endpointUrl(endpointId);
  return { url, hostname: new URL(url).host, subdomain: endpointId };
}

/** The endpoint of a port of a deployment (made once, then reused). */
export function addEndpoint(services: DeploymentServices, row: DeploymentRow, port: number, isPublic: boolean): { id: string } & EndpointAddress {
  const existing = services.store.endpointsOf(row.id).find((e) => e.port === port && Boolean(e.is_public) === isPublic);
  if (existing) return { id: existing.id, ...endpointAddress(services, existing.id) };
  const id = `ep-${randomBytes(6).toString("hex")}`;
  services.store.insertEndpoint({ id, token_id: row.token_id, deployment_id: row.id, port, is_public: isPublic ? 1 : 0, created_at: new Date().toISOString() });
  return { id, ...endpointAddress(services, id) };
}

/**
 * Makes (or finds) the endpoint a client asks for. One whose port leads back to this server is
 * refused now when the sandbox runs (and at every request in any case).
 */
export async function requestEndpoint(services: DeploymentServices, row: DeploymentRow, port: number, isPublic: boolean): Promise<{ id: string } & EndpointAddress> {
  const entry = row.sandbox_id ? openWorkspaceSandbox(services.data.home, row.sandbox_id) : undefined;
  if (entry && isWorkspaceSandboxRunning(entry)) {
    const target = await workspacePortEndpoint(entry, port).catch(() => undefined);
    if (target && services.hooks.isOwnAddress(target.host, target.port)) {
      throw new HttpError(422, `port ${port} of ${row.id} leads back to this server's own address; it cannot be exposed`, "proxy_loop");
    }
  }
  return addEndpoint(services, row, port, isPublic);
}

/** The URL of an endpoint: its own host name under domain, with the scheme and port clients reach the server at. */
export function endpointOrigin(publicUrl: string, endpointId: string, domain: string): string {
  const url = new URL(publicUrl);
  url.hostname = `${endpointId}.${domain}`;
  return `${url.origin}/`;
}

const ENDPOINT_LABEL = /^ep-[0-9a-f]+$/;

/** The endpoint a Host header names (<endpoint>.<domain>[:port]), or undefined for any other host. */
export function endpointOfHost(host: string | undefined, domain: string): string | undefined {
  const name = (host ?? "").toLowerCase().replace(/:\d+$/, "").replace(/\.$/, "");
  const suffix = `.${domain}`;
  if (!name.endsWith(suffix)) return undefined;
  const label = name.slice(0, -suffix.length);
  return ENDPOINT_LABEL.test(label) ? label : undefined;
}

/** What the path form's answers carry: the page runs in an opaque origin, whatever it asks for. */
const SANDBOX_POLICY = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads";

/** Set on every forwarded request: one arriving with it is a loop (or a chain of proxies) and is refused. */
export const HOP_HEADER = "x-heyvm-proxied";

/** Where a running sandbox's guest port answers on this host (undefined: not forwarded at boot); never this server itself (508). */
export async function endpointTarget(services: DeploymentServices, entry: SandboxEntry, deploymentId: string, port: number): Promise<HostEndpoint | undefined> {
  const target = await workspacePortEndpoint(entry, port);
  if (!target) return undefined;
  if (services.hooks.isOwnAddress(target.host, target.port)) {
    throw new HttpError(508, `port ${port} of ${deploymentId} leads back to this server's own address; it is not proxied`, "proxy_loop");
  }
  return target;
}

/**
 * Forwards one request to an endpoint's port. A private endpoint asks for its owner's token
 * (callerToken throws 401 without a valid one); a wrong token gets the same 404 as no endpoint.
 * Nothing the sandbox or the client does mid-way (a reset, a bad header) ends more than this request.
 */
export async function proxyToEndpoint(
  services: DeploymentServices,
  request: { req: IncomingMessage; res: ServerResponse; endpointId: string; path: string; callerToken(): string; sandboxed?: boolean },
): Promise<Reply> {
  const { req, res } = request;
  if (req.headers[HOP_HEADER] !== undefined) throw new HttpError(508, "this request already went through the port proxy; proxies do not chain", "proxy_loop");
  const endpoint = services.store.endpoint(request.endpointId);
  if (!endpoint) throw new HttpError(404, "no such endpoint", "not_found");
  if (!endpoint.is_public && request.callerToken() !== endpoint.token_id) throw new HttpError(404, "no such endpoint", "not_found");
  const { entry } = await runningSandbox(services, endpoint.token_id, endpoint.deployment_id);
  const target = await endpointTarget(services, entry, endpoint.deployment_id, endpoint.port);
  // a port not forwarded at boot is reached through a connector inside the sandbox (one per request, under the relay caps)
  const relayed = target ? undefined : await openDeploymentPort(services, endpoint.token_id, entry, endpoint.deployment_id, endpoint.port);
  const route = target ? { host: target.host, port: target.port } : { createConnection: () => relayed as Duplex };
  await new Promise<void>((resolve) => {
    const headers = { ...req.headers, host: `${target?.host ?? "127.0.0.1"}:${endpoint.port}`, [HOP_HEADER]: "1", ...(relayed ? { connection: "close" } : {}) };
    delete headers.authorization;
    const upstream = httpRequest({ ...route, method: req.method, path: request.path, headers }, (answer) => {
      answer.on("error", () => res.destroy());
      answer.on("end", resolve);
      try {
        const policy = answer.headers["content-security-policy"];
        const headers = request.sandboxed ? { ...answer.headers, "content-security-policy": [...(policy === undefined ? [] : [policy].flat()), SANDBOX_POLICY] } : answer.headers;
        res.writeHead(answer.statusCode ?? 502, headers);
      } catch {
        answer.destroy();
        sendReply(res, errorReply(new HttpError(502, `the answer from port ${endpoint.port} in ${endpoint.deployment_id} is not valid HTTP`, "bad_gateway")));
        return resolve();
      }
      answer.pipe(res);
    });
    upstream.on("error", () => {
      if (!res.headersSent) sendReply(res, errorReply(new HttpError(502, `nothing answers on port ${endpoint.port} in ${endpoint.deployment_id}`, "bad_gateway")));
      else res.destroy();
      resolve();
    });
    res.on("close", () => {
      upstream.destroy(); // the client went away: so does the request to the sandbox
      relayed?.destroy(); // and its connector
      resolve();
    });
    req.on("error", () => upstream.destroy());
    req.pipe(upstream);
  });
  return { sent: true };
}
