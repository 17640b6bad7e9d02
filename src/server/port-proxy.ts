// Exposed ports: an endpoint id per (deployment, port, public or not), and the proxy that
// forwards /p/<endpoint>/... to that port of the running sandbox. How the port is reached from
// this host is the backend's business (workspacePortEndpoint); nothing here is backend-specific.
import { randomBytes } from "node:crypto";
import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { workspacePortEndpoint } from "../core/workspace-sandbox.js";
import type { DeploymentServices } from "./context.js";
import { HttpError, errorReply, sendReply, type Reply } from "./http.js";
import { runningSandbox } from "./sandbox-exec.js";
import type { DeploymentRow } from "./store.js";

/** The endpoint of a port of a deployment (made once, then reused). */
export function addEndpoint(services: DeploymentServices, row: DeploymentRow, port: number, isPublic: boolean): { id: string; url: string } {
  const existing = services.store.endpointsOf(row.id).find((e) => e.port === port && Boolean(e.is_public) === isPublic);
  if (existing) return { id: existing.id, url: services.hooks.endpointUrl(existing.id) };
  const id = `ep-${randomBytes(6).toString("hex")}`;
  services.store.insertEndpoint({ id, token_id: row.token_id, deployment_id: row.id, port, is_public: isPublic ? 1 : 0, created_at: new Date().toISOString() });
  return { id, url: services.hooks.endpointUrl(id) };
}

/**
 * Forwards one request to an endpoint's port. A private endpoint asks for its owner's token
 * (callerToken throws 401 without a valid one); a wrong token gets the same 404 as no endpoint.
 */
export async function proxyToEndpoint(
  services: DeploymentServices,
  request: { req: IncomingMessage; res: ServerResponse; endpointId: string; path: string; callerToken(): string },
): Promise<Reply> {
  const { req, res } = request;
  const endpoint = services.store.endpoint(request.endpointId);
  if (!endpoint) throw new HttpError(404, "no such endpoint", "not_found");
  if (!endpoint.is_public && request.callerToken() !== endpoint.token_id) throw new HttpError(404, "no such endpoint", "not_found");
  const { entry } = await runningSandbox(services, endpoint.token_id, endpoint.deployment_id);
  const target = await workspacePortEndpoint(entry, endpoint.port);
  if (!target) {
    throw new HttpError(502, `port ${endpoint.port} of ${endpoint.deployment_id} is not forwarded: only ports listed in open_ports when the sandbox was created are`, "no_route");
  }
  await new Promise<void>((resolve) => {
    const headers = { ...req.headers, host: `${target.host}:${endpoint.port}` };
    delete headers.authorization;
    const upstream = httpRequest({ host: target.host, port: target.port, method: req.method, path: request.path, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
      answer.on("end", resolve);
    });
    upstream.on("error", () => {
      if (!res.headersSent) sendReply(res, errorReply(new HttpError(502, `nothing answers on port ${endpoint.port} in ${endpoint.deployment_id}`, "bad_gateway")));
      resolve();
    });
    req.pipe(upstream);
  });
  return { sent: true };
}
