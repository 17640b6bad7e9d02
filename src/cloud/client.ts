// The HTTP client of the cloud API (ARCHITECTURE.md §5): one method per route, answers checked against
// the shared schema, failures turned into UserErrors. Nothing here prints.
import { createReadStream, createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { Readable, Transform } from "node:stream";
import type { z } from "zod";
import { OperationFailedError } from "../shared/errors.js";
import { cloudConnectionError, cloudHttpError, isConnectionReset } from "./errors.js";
import { SANDBOX_ROUTES, UnbindResponse } from "./sandbox-routes-schema.js";
import { IMAGE_API, ImageList, ImagePresignResponse, PublishedImage, type ImagePresignRequest } from "./image-schema.js";
import {
  API,
  ArchiveList,
  ArchiveRecord,
  Capabilities,
  DeployResponse,
  Deployment,
  DeploymentList,
  ExecResponse,
  ExecStreamFrame,
  LogsResponse,
  PresignResponse,
  ProxyEndpoint,
  describeIssues,
  type DeployRequest,
  type ForkRequest,
  type ExecRequest,
  type FinalizeRequest,
  type PresignRequest,
  type ProxyRequest,
  type ReplaceMountRequest,
  type ResizeRequest,
} from "./schema.js";

export interface CloudTarget {
  baseUrl: string;
  token: string;
}

/** Called as upload bytes go out, so the CLI can draw progress. */
export type UploadProgress = (sentBytes: number, totalBytes: number) => void;

export class CloudClient {
  constructor(readonly target: CloudTarget) {}

  private url(path: string): string {
    return new URL(path, `${this.target.baseUrl}/`).toString();
  }

  private async send(method: string, path: string, what: string, body?: unknown): Promise<string> {
    let response: Response;
    for (let attempt = 1; ; attempt++) {
      try {
        response = await fetch(this.url(path), {
          method,
          headers: {
            authorization: `Bearer ${this.target.token}`,
            accept: "application/json",
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        break;
      } catch (error) {
        // a GET changes nothing: one whose connection was cut under it is sent again (twice at most)
        if (method === "GET" && attempt < 3 && isConnectionReset(error)) continue;
        throw cloudConnectionError(this.target.baseUrl, error);
      }
    }
    const text = await response.text();
    if (!response.ok) throw cloudHttpError(response.status, text, what);
    return text;
  }

  private async call<T>(method: string, path: string, what: string, schema: z.ZodType<T>, body?: unknown): Promise<T> {
    const text = await this.send(method, path, what, body);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new OperationFailedError(`${what}: the cloud answered something that is not JSON`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new OperationFailedError(`${what}: unexpected answer from the cloud (${describeIssues(parsed.error)})`);
    return parsed.data;
  }

  presignArchive(request: PresignRequest = {}) {
    return this.call("POST", API.presign, "prepare the upload", PresignResponse, request);
  }

  /** PUTs a file to a presigned URL; the URL is the credential, so no auth header is sent. */
  private async putFile(uploadUrl: string, file: string, sizeBytes: number, what: string, onProgress?: UploadProgress): Promise<void> {
    let sent = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        sent += chunk.length;
        onProgress?.(sent, sizeBytes);
        done(null, chunk);
      },
    });
    const stream = createReadStream(file, { highWaterMark: 1 << 20 }).pipe(counter);
    let response: Response;
    try {
      response = await fetch(this.url(uploadUrl), {
        method: "PUT",
        headers: { "content-type": "application/gzip", "content-length": String(sizeBytes) },
        body: Readable.toWeb(stream) as ReadableStream<Uint8Array>,
        duplex: "half",
      });
    } catch (error) {
      throw cloudConnectionError(this.target.baseUrl, error);
    }
    const text = await response.text();
    if (!response.ok) throw cloudHttpError(response.status, text, what);
  }

  uploadArchive(uploadUrl: string, file: string, sizeBytes: number, onProgress?: UploadProgress): Promise<void> {
    return this.putFile(uploadUrl, file, sizeBytes, "upload the workspace archive", onProgress);
  }

  finalizeArchive(id: string, request: FinalizeRequest) {
    return this.call("POST", API.finalize(id), "finalize the archive", ArchiveRecord, request);
  }

  listArchives() {
    return this.call("GET", API.archives, "list archives", ArchiveList);
  }

  async deleteArchive(id: string): Promise<void> {
    await this.send("DELETE", API.archive(id), `delete archive ${id}`);
  }

  deploy(request: DeployRequest) {
    return this.call("POST", API.deploy, "create the cloud sandbox", DeployResponse, request);
  }

  listDeployments() {
    return this.call("GET", API.deployments, "list cloud sandboxes", DeploymentList);
  }

  getDeployment(id: string) {
    return this.call("GET", API.deployment(id), `cloud sandbox ${id}`, Deployment);
  }

  stop(id: string) {
    return this.call("POST", API.stop(id), `stop ${id}`, Deployment);
  }

  start(id: string) {
    return this.call("POST", API.start(id), `start ${id}`, Deployment);
  }

  unexposePort(id: string, port: number) {
    return this.call("DELETE", SANDBOX_ROUTES.port(id, port), `unbind port ${port} of ${id}`, UnbindResponse);
  }

  restart(id: string) {
    return this.call("POST", SANDBOX_ROUTES.restart(id), `restart ${id}`, Deployment);
  }

  async remove(id: string): Promise<void> {
    await this.send("DELETE", API.deployment(id), `delete ${id}`);
  }

  /** Cold-stores a deployment: stopped, its disk and workspace kept, its host resources freed. */
  checkpoint(id: string) {
    return this.call("POST", API.checkpoint(id), `checkpoint ${id}`, Deployment);
  }

  /** Brings a cold-stored deployment back, under the same id. */
  restore(id: string) {
    return this.call("POST", API.restore(id), `restore ${id}`, Deployment);
  }

  /** A new deployment that starts as a copy of this one (workspace and disk). */
  fork(id: string, request: ForkRequest) {
    return this.call("POST", API.fork(id), `fork ${id}`, Deployment, request);
  }

  setTtl(id: string, ttlSeconds: number) {
    return this.call("POST", API.ttl(id), `set the TTL of ${id}`, Deployment, { ttl_seconds: ttlSeconds });
  }

  resize(id: string, request: ResizeRequest) {
    return this.call("POST", API.resize(id), `resize ${id}`, Deployment, request);
  }

  /** Saves an archive's tar.gz (one of this token's) to `file`, at most maxBytes. */
  async downloadArchive(id: string, file: string, maxBytes: number): Promise<number> {
    const what = `download archive ${id}`;
    let response: Response;
    try {
      response = await fetch(this.url(API.archiveDownload(id)), { headers: { authorization: `Bearer ${this.target.token}` } });
    } catch (error) {
      throw cloudConnectionError(this.target.baseUrl, error);
    }
    if (!response.ok || !response.body) throw cloudHttpError(response.status, await response.text(), what);
    let size = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        done(size > maxBytes ? new OperationFailedError(`${what}: it is larger than ${maxBytes} bytes`) : null, chunk);
      },
    });
    await pipeline(Readable.fromWeb(response.body as import("node:stream/web").ReadableStream<Uint8Array>), limit, createWriteStream(file, { mode: 0o600 }));
    return size;
  }

  replaceMount(id: string, request: ReplaceMountRequest) {
    return this.call("POST", API.replaceMount(id), `replace /workspace of ${id}`, Deployment, request);
  }

  exec(id: string, request: ExecRequest) {
    return this.call("POST", API.exec(id), `exec in ${id}`, ExecResponse, request);
  }

  /**
   * exec with `stream: true`: the server sends the output as it comes (NDJSON), so none of it is
   * cut at its capture limit. A cloud that does not know `stream` (422) is asked again without it.
   */
  async execStreamed(id: string, request: ExecRequest): Promise<ExecResponse> {
    const what = `exec in ${id}`;
    let response: Response;
    try {
      response = await fetch(this.url(API.exec(id)), {
        method: "POST",
        headers: { authorization: `Bearer ${this.target.token}`, accept: "application/x-ndjson, application/json", "content-type": "application/json" },
        body: JSON.stringify({ ...request, stream: true }),
      });
    } catch (error) {
      throw cloudConnectionError(this.target.baseUrl, error);
    }
    if (!response.ok) {
      const text = await response.text();
      if (response.status === 422 && /\bstream\b/.test(text)) return this.exec(id, request);
      throw cloudHttpError(response.status, text, what);
    }
    if (!/ndjson/.test(response.headers.get("content-type") ?? "") || !response.body) {
      const parsed = ExecResponse.safeParse(await response.json().catch(() => undefined));
      if (!parsed.success) throw new OperationFailedError(`${what}: unexpected answer from the cloud (${describeIssues(parsed.error)})`);
      return parsed.data;
    }
    const streams = { stdout: [] as Buffer[], stderr: [] as Buffer[], output: [] as Buffer[] };
    let exit: { exit_code: number; timed_out: boolean } | undefined;
    let pending = "";
    const decoder = new TextDecoder();
    const take = (line: string) => {
      if (!line.trim()) return;
      const frame = ExecStreamFrame.safeParse(JSON.parse(line));
      if (!frame.success) throw new OperationFailedError(`${what}: unexpected answer from the cloud (${describeIssues(frame.error)})`);
      if (frame.data.type === "exit") exit = frame.data;
      else {
        const data = Buffer.from(frame.data.data, "base64");
        streams[frame.data.stream].push(data);
        streams.output.push(data);
      }
    };
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      pending += decoder.decode(chunk, { stream: true });
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) take(line);
    }
    take(pending);
    if (!exit) throw new OperationFailedError(`${what}: the cloud's answer ended before the command's exit`);
    const text = (parts: Buffer[]) => Buffer.concat(parts).toString("utf8");
    return { stdout: text(streams.stdout), stderr: text(streams.stderr), output: text(streams.output), exit_code: exit.exit_code, timed_out: exit.timed_out };
  }

  logs(id: string, offset: number, lines: number) {
    return this.call("GET", `${API.logs(id)}?offset=${offset}&lines=${lines}`, `logs of ${id}`, LogsResponse);
  }

  exposePort(request: ProxyRequest) {
    return this.call("POST", API.proxyForDeployed, `expose port ${request.port} of ${request.sandbox_id}`, ProxyEndpoint, request);
  }

  capabilities() {
    return this.call("GET", API.capabilities, "ask the cloud what it can run", Capabilities);
  }

  presignImage(request: ImagePresignRequest) {
    return this.call("POST", IMAGE_API.presign, "prepare the image upload", ImagePresignResponse, request);
  }

  uploadImage(uploadUrl: string, file: string, sizeBytes: number, onProgress?: UploadProgress): Promise<void> {
    return this.putFile(uploadUrl, file, sizeBytes, "upload the image", onProgress);
  }

  registerImage(id: string) {
    return this.call("POST", IMAGE_API.register(id), `register image ${id}`, PublishedImage, {});
  }

  listImages(backend?: string) {
    return this.call("GET", `${IMAGE_API.list}${backend ? `?backend=${encodeURIComponent(backend)}` : ""}`, "list images", ImageList);
  }

  async deleteImage(id: string): Promise<void> {
    await this.send("DELETE", IMAGE_API.image(id), `delete image ${id}`);
  }

  /** ws:// or wss:// address of a sandbox's shell stream. */
  shellUrl(id: string): string {
    return this.webSocketUrl(API.shell(id));
  }

  /** ws:// or wss:// address of the tunnel to a port of a sandbox (one TCP connection per WebSocket). */
  portTunnelUrl(id: string, port: number): string {
    return this.webSocketUrl(API.portTunnel(id, port));
  }

  private webSocketUrl(path: string): string {
    const url = new URL(path, `${this.target.baseUrl}/`);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.toString();
  }
}
