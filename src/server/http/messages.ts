// The small HTTP toolkit of the server (plain node:http): a route table with :params, JSON
// bodies read with a size limit and checked against the shared schema, and errors as JSON.
import { errorMessage } from "../../shared/errors.js";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { z } from "zod";
import { describeIssues } from "../../cloud/schema.js";

/** An answer other than 2xx, with the message the client shows. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
    /** Further fields of the JSON answer (e.g. retry_after, which also becomes a Retry-After header). */
    readonly extra?: Record<string, string | number | boolean>,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
  /** The authenticated token's id (routes marked public have none). */
  tokenId: string;
  /** Aborted when the client goes away before the answer. */
  signal: AbortSignal;
}

export type Reply = { status: number; json: unknown; headers?: Record<string, string> } | { status: number; text: string } | { sent: true };

export type Handler = (context: RequestContext) => Promise<Reply> | Reply;

export interface Route {
  method: string;
  segments: string[];
  /** false: no bearer token needed (the presigned upload checks its own signature). */
  auth: boolean;
  handler: Handler;
}

export type RouteMatch = { route: Route; params: Record<string, string> } | { route: undefined; methods: string[] };

export class Router {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler, options: { auth?: boolean } = {}): this {
    this.routes.push({ method, segments: pattern.split("/").filter(Boolean), auth: options.auth ?? true, handler });
    return this;
  }

  match(method: string, pathname: string): RouteMatch {
    const parts = pathname.split("/").filter(Boolean);
    const methods: string[] = [];
    for (const route of this.routes) {
      if (route.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      const fits = route.segments.every((segment, i) => {
        const part = parts[i] ?? "";
        if (segment.startsWith(":")) {
          try {
            params[segment.slice(1)] = decodeURIComponent(part);
          } catch {
            return false;
          }
          return true;
        }
        return segment === part;
      });
      if (!fits) continue;
      if (route.method === method) return { route, params };
      methods.push(route.method);
    }
    return { route: undefined, methods };
  }
}

/**
 * Reads a request body up to limitBytes (413 beyond, refused at once when the declared length is
 * already too large). The connection is left alone: the answer goes out, then the rest of the
 * body is drained (drainRequest), so the client reads a 413 instead of a reset.
 */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new HttpError(413, `the request body is larger than ${limitBytes} bytes`, "too_large");
    const declared = Number(req.headers["content-length"] ?? NaN);
    if (Number.isFinite(declared) && declared > limitBytes) return reject(tooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        req.off("data", onData);
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** After an answer: reads and drops what the client still sends, up to limitBytes, then hangs up. */
export function drainRequest(req: IncomingMessage, limitBytes: number): void {
  if (req.complete || req.destroyed) return;
  let drained = 0;
  req.on("data", (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > limitBytes) req.socket?.destroy();
  });
  req.on("error", () => undefined);
  req.resume();
}

/** The JSON body checked against a request schema: 400 when it is not JSON, 422 when it does not fit. */
export async function readJson<S extends z.ZodType>(req: IncomingMessage, schema: S, limitBytes = 1 << 20): Promise<z.infer<S>> {
  const raw = (await readBody(req, limitBytes)).toString("utf8");
  let value: unknown = {};
  if (raw.trim().length > 0) {
    try {
      value = JSON.parse(raw);
    } catch (error) {
      throw new HttpError(400, `malformed JSON body: ${errorMessage(error)}`, "malformed_json");
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new HttpError(422, `invalid request: ${describeIssues(parsed.error)}`, "invalid_request");
  return parsed.data;
}

export function sendReply(res: ServerResponse, reply: Reply): void {
  if ("sent" in reply) return;
  if ("json" in reply) {
    const body = JSON.stringify(reply.json);
    res.writeHead(reply.status, { ...reply.headers, "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  res.writeHead(reply.status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(reply.text) });
  res.end(reply.text);
}

export function errorReply(error: HttpError): Reply {
  const retryAfter = error.extra?.retry_after;
  return {
    status: error.status,
    json: { error: error.message, ...(error.code ? { code: error.code } : {}), ...error.extra },
    ...(retryAfter === undefined ? {} : { headers: { "retry-after": String(retryAfter) } }),
  };
}

/** The bearer token of a request (header only: tokens never travel in URLs). */
export function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match?.[1];
}
