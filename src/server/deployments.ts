// The life of a deployed sandbox on this server: provisioning (workspace unpacked, sandbox made,
// owner started), running, stopped, failed; TTL expiry (stopped and freed); and reconciliation
// with what really runs, so a row never says "running" for a machine that is gone. Operations on
// one deployment run one after another.
import { errorMessage } from "../shared/errors.js";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, renameSync, rmSync } from "node:fs";
import { lastLines, readFrom } from "../shared/file-tail.js";
import { join } from "node:path";
import type { DeployRequestParsed, Deployment, ExecResponse, LogsResponse, ReplaceMountRequest } from "../cloud/schema.js";
import type { SandboxEntry } from "../core/catalog.js";
import { viewOf } from "../core/catalog.js";
import {
  captureInWorkspaceSandbox,
  createWorkspaceSandbox,
  destroyWorkspaceSandbox,
  launchInWorkspaceSandbox,
  openWorkspaceSandbox,
  startWorkspaceSandbox,
  stopWorkspaceSandbox,
} from "../core/workspace-sandbox.js";
import { isBackendName } from "../shared/backend-name.js";
import type { DriverCatalog } from "./catalog.js";
import type { ServerConfig, ServerData } from "./config.js";
import { ArchiveRejectedError, extractArchive, type ExtractLimits } from "./extract.js";
import { HttpError } from "./http.js";
import type { DeploymentRow, RowStatus, Store } from "./store.js";

export type LogLine = (line: string) => void;

export interface DeploymentHooks {
  /** Called when a sandbox stops or goes away, so its shell sessions end. */
  onStopped(deploymentId: string): void;
  /** The public URL of an exposed port. */
  endpointUrl(endpointId: string): string;
}

function parseJson<T>(text: string, fallback: T): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

export class Deployments {
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(
    private readonly store: Store,
    private readonly data: ServerData,
    private readonly config: ServerConfig,
    private readonly catalog: DriverCatalog,
    private readonly log: LogLine,
    private readonly hooks: DeploymentHooks,
  ) {}

  private get limits(): ExtractLimits {
    return { maxBytes: this.config.maxExtractedBytes, maxEntries: 1_000_000 };
  }

  /** Runs fn after every earlier operation on the same deployment has finished. */
  private serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(id) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.chains.set(id, settled);
    this.inflight.add(settled);
    void settled.then(() => {
      this.inflight.delete(settled);
      if (this.chains.get(id) === settled) this.chains.delete(id);
    });
    return next;
  }

  /** Waits for every running operation (server shutdown). */
  async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  private setStatus(row: DeploymentRow, status: RowStatus, patch: Partial<DeploymentRow> = {}): void {
    this.store.updateDeployment(row.id, { ...patch, status });
    if (row.status !== status) {
      const why = patch.error_message ? ` (${patch.error_message})` : "";
      this.log(`deployment ${row.id}: ${row.status} -> ${status}${why}`);
    }
  }

  private entryOf(row: DeploymentRow): SandboxEntry | undefined {
    return row.sandbox_id ? openWorkspaceSandbox(this.data.home, row.sandbox_id) : undefined;
  }

  /** The row of a token's deployment, or 404 (also for other tokens' deployments). */
  owned(tokenId: string, id: string): DeploymentRow {
    const row = this.store.deployment(id);
    if (!row || row.token_id !== tokenId) throw new HttpError(404, `no cloud sandbox ${id}`, "not_found");
    return row;
  }

  async create(tokenId: string, request: DeployRequestParsed): Promise<DeploymentRow> {
    const resolved = await this.catalog.resolve(request.driver ?? "libvirt", request.image);
    if (request.archive_id) {
      const archive = this.store.archive(request.archive_id);
      if (!archive || archive.token_id !== tokenId) throw new HttpError(404, `no archive ${request.archive_id}`, "not_found");
      if (archive.status !== "ready") throw new HttpError(409, `archive ${request.archive_id} is not finalized yet`, "not_ready");
    }
    if (this.store.countActive(tokenId) >= this.config.maxActivePerToken) {
      throw new HttpError(429, `this token already has ${this.config.maxActivePerToken} active sandboxes (the quota)`, "quota");
    }
    const id = `dep-${randomBytes(4).toString("hex")}`;
    const now = new Date();
    const row: DeploymentRow = {
      id,
      token_id: tokenId,
      name: request.name ?? id,
      status: "provisioning",
      driver: resolved.backend,
      image: request.image,
      region: request.region,
      size_class: request.size_class,
      ttl_seconds: request.ttl_seconds ?? null,
      open_ports: JSON.stringify(request.open_ports),
      archive_id: request.archive_id ?? null,
      start_command: request.start_command ?? null,
      working_directory: request.working_directory ?? "/workspace",
      env_vars: JSON.stringify(request.env_vars ?? {}),
      sandbox_id: null,
      error_message: null,
      created_at: now.toISOString(),
      started_at: null,
      stopped_at: null,
      expires_at: request.ttl_seconds ? new Date(now.getTime() + request.ttl_seconds * 1000).toISOString() : null,
      freed: 0,
      deleted: 0,
    };
    this.store.insertDeployment(row);
    this.log(`deployment ${id}: created (provisioning) on ${resolved.backend}, image ${request.image}${resolved.image ? ` -> ${resolved.image}` : ""}`);
    void this.serial(id, () => this.provision(id, resolved.image));
    return row;
  }

  private async provision(id: string, backendImage: string | null): Promise<void> {
    const row = this.store.deployment(id);
    if (!row || row.status !== "provisioning") return;
    const workspace = this.data.workspacePath(id);
    try {
      mkdirSync(workspace, { recursive: true });
      if (row.archive_id) {
        const began = performance.now();
        await extractArchive(this.data.archivePath(row.archive_id), workspace, this.limits);
        this.log(`deployment ${id}: unpacked ${row.archive_id} into its workspace in ${Math.round(performance.now() - began)} ms`);
      }
      if (!isBackendName(row.driver)) throw new Error(`unknown driver ${row.driver}`);
      const entry = await createWorkspaceSandbox(this.data.home, { name: id, backend: row.driver, image: backendImage, workspace, network: true, ports: parseJson<number[]>(row.open_ports, []) });
      this.store.updateDeployment(id, { sandbox_id: entry.spec.id });
      const reporter = { progress: (m: string) => this.log(`deployment ${id}: ${m}`), info: () => undefined };
      await startWorkspaceSandbox(this.data.home, entry, reporter);
      this.setStatus(row, "running", { started_at: new Date().toISOString(), error_message: null });
      await this.afterStart({ ...row, status: "running", sandbox_id: entry.spec.id }, entry);
    } catch (error) {
      const message = error instanceof ArchiveRejectedError ? `archive refused: ${error.message}` : errorMessage(error).split("\n")[0] ?? "start failed";
      await this.free({ ...row, sandbox_id: this.store.deployment(id)?.sandbox_id ?? null });
      this.setStatus(row, "failed", { error_message: message, stopped_at: new Date().toISOString(), freed: 1 });
    }
  }

  /** Exposes the requested ports and launches the start command, if any. */
  private async afterStart(row: DeploymentRow, entry: SandboxEntry): Promise<void> {
    if (this.store.endpointsOf(row.id).length === 0) {
      for (const port of parseJson<number[]>(row.open_ports, [])) this.addEndpoint(row, port, true);
    }
    if (row.start_command) {
      const log = openSync(entry.dir.logPath, "a");
      try {
        await launchInWorkspaceSandbox(entry, ["sh", "-c", row.start_command], { cwd: row.working_directory, env: parseJson(row.env_vars, {}) }, log);
      } finally {
        closeSync(log);
      }
    }
  }

  addEndpoint(row: DeploymentRow, port: number, isPublic: boolean): { id: string; url: string } {
    const existing = this.store.endpointsOf(row.id).find((e) => e.port === port && Boolean(e.is_public) === isPublic);
    if (existing) return { id: existing.id, url: this.hooks.endpointUrl(existing.id) };
    const id = `ep-${randomBytes(6).toString("hex")}`;
    this.store.insertEndpoint({ id, token_id: row.token_id, deployment_id: row.id, port, is_public: isPublic ? 1 : 0, created_at: new Date().toISOString() });
    return { id, url: this.hooks.endpointUrl(id) };
  }

  /** Deletes the sandbox's machine, records and workspace (after which it cannot start again). */
  private async free(row: DeploymentRow): Promise<void> {
    this.hooks.onStopped(row.id);
    const entry = this.entryOf(row);
    if (entry) await destroyWorkspaceSandbox(this.data.home, entry);
    rmSync(this.data.workspacePath(row.id), { recursive: true, force: true });
    this.store.deleteEndpointsOf(row.id);
  }

  /** Brings a row in line with reality: a "running" row whose owner is gone becomes stopped. */
  private async reconcile(row: DeploymentRow, context: string, insideChain = false): Promise<DeploymentRow> {
    // an operation under way (stop, expiry, start) sets the status itself when it is done
    if (row.status !== "running" || (!insideChain && this.chains.has(row.id))) return row;
    const entry = this.entryOf(row);
    const view = entry ? await viewOf(entry) : undefined;
    if (view && (view.status === "running" || view.status === "starting")) return row;
    const reason = view?.lastExit?.reason ?? "its sandbox is gone";
    this.hooks.onStopped(row.id);
    this.setStatus(row, "stopped", { stopped_at: new Date().toISOString(), error_message: `${context}: ${reason}` });
    return this.store.deployment(row.id) ?? row;
  }

  async view(row: DeploymentRow): Promise<Deployment> {
    const current = await this.reconcile(row, "not running");
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
      urls: this.store.endpointsOf(current.id).map((e) => this.hooks.endpointUrl(e.id)),
      created_at: current.created_at,
      started_at: current.started_at,
      expires_at: current.expires_at,
      archive_id: current.archive_id,
    };
  }

  async list(tokenId: string): Promise<Deployment[]> {
    return Promise.all(this.store.deploymentsOf(tokenId).map((row) => this.view(row)));
  }

  stop(tokenId: string, id: string): Promise<Deployment> {
    this.owned(tokenId, id);
    return this.serial(id, async () => {
      const row = this.owned(tokenId, id);
      this.hooks.onStopped(id);
      const entry = this.entryOf(row);
      if (entry) await stopWorkspaceSandbox(this.data.home, entry);
      if (row.status === "running" || row.status === "provisioning") this.setStatus(row, "stopped", { stopped_at: new Date().toISOString(), error_message: null });
      return this.view(this.owned(tokenId, id));
    });
  }

  start(tokenId: string, id: string): Promise<Deployment> {
    this.owned(tokenId, id);
    return this.serial(id, async () => {
      const row = await this.reconcile(this.owned(tokenId, id), "not running", true);
      if (row.status === "running") return this.view(row);
      const entry = this.entryOf(row);
      if (row.freed || !entry || !existsSync(this.data.workspacePath(id))) {
        throw new HttpError(409, `${id} cannot start again: its resources were freed (${row.error_message ?? row.status}); deploy a new one`, "freed");
      }
      const reporter = { progress: (m: string) => this.log(`deployment ${id}: ${m}`), info: () => undefined };
      try {
        await startWorkspaceSandbox(this.data.home, entry, reporter);
      } catch (error) {
        throw new HttpError(409, `${id} did not start: ${errorMessage(error).split("\n")[0]}`, "start_failed");
      }
      this.setStatus(row, "running", { started_at: new Date().toISOString(), error_message: null, stopped_at: null });
      await this.afterStart({ ...row, status: "running" }, entry);
      return this.view(this.owned(tokenId, id));
    });
  }

  remove(tokenId: string, id: string): Promise<void> {
    this.owned(tokenId, id);
    return this.serial(id, async () => {
      const row = this.owned(tokenId, id);
      await this.free(row);
      this.store.updateDeployment(id, { deleted: 1, freed: 1 });
      this.log(`deployment ${id}: ${row.status} -> deleted`);
    });
  }

  setTtl(tokenId: string, id: string, ttlSeconds: number): Promise<Deployment> {
    this.owned(tokenId, id);
    return this.serial(id, async () => {
      const row = this.owned(tokenId, id);
      if (row.freed) throw new HttpError(409, `${id} has already been freed`, "freed");
      this.store.updateDeployment(id, { ttl_seconds: ttlSeconds, expires_at: new Date(Date.now() + ttlSeconds * 1000).toISOString() });
      return this.view(this.owned(tokenId, id));
    });
  }

  replaceMount(tokenId: string, id: string, request: ReplaceMountRequest): Promise<Deployment> {
    this.owned(tokenId, id);
    const archive = this.store.archive(request.archive_id);
    if (!archive || archive.token_id !== tokenId) throw new HttpError(404, `no archive ${request.archive_id}`, "not_found");
    if (archive.status !== "ready") throw new HttpError(409, `archive ${request.archive_id} is not finalized yet`, "not_ready");
    return this.serial(id, async () => {
      const row = this.owned(tokenId, id);
      if (row.freed) throw new HttpError(409, `${id} has been freed`, "freed");
      const workspace = this.data.workspacePath(id);
      const staging = `${workspace}.staging-${randomBytes(3).toString("hex")}`;
      try {
        await extractArchive(this.data.archivePath(archive.id), staging, this.limits);
        // the running sandbox has the folder itself bound at /workspace: swap what is inside it
        for (const name of readdirSync(workspace)) rmSync(join(workspace, name), { recursive: true, force: true });
        for (const name of readdirSync(staging)) renameSync(join(staging, name), join(workspace, name));
      } catch (error) {
        if (error instanceof ArchiveRejectedError) throw new HttpError(422, `archive refused: ${error.message}`, "archive_rejected");
        throw error;
      } finally {
        rmSync(staging, { recursive: true, force: true });
      }
      this.store.updateDeployment(id, { archive_id: archive.id });
      this.log(`deployment ${id}: /workspace replaced from ${archive.id}`);
      return this.view(this.owned(tokenId, id));
    });
  }

  /** The running sandbox of a deployment (409 when it is not running). */
  async runningEntry(tokenId: string, id: string): Promise<{ row: DeploymentRow; entry: SandboxEntry }> {
    const row = await this.reconcile(this.owned(tokenId, id), "not running");
    const entry = this.entryOf(row);
    if (row.status !== "running" || !entry) throw new HttpError(409, `${id} is ${row.status}${row.error_message ? ` (${row.error_message})` : ""}`, "not_running");
    return { row, entry };
  }

  async exec(tokenId: string, id: string, command: string, options: { cwd?: string; env?: Record<string, string>; signal: AbortSignal }): Promise<ExecResponse> {
    const { row, entry } = await this.runningEntry(tokenId, id);
    const result = await captureInWorkspaceSandbox(entry, ["sh", "-c", command], {
      cwd: options.cwd ?? row.working_directory,
      env: { ...parseJson<Record<string, string>>(row.env_vars, {}), ...options.env },
      maxOutputBytes: 16 * 1024 * 1024,
      signal: options.signal,
    });
    return { stdout: result.stdout, stderr: result.stderr, output: result.output, exit_code: result.exitCode };
  }

  logs(tokenId: string, id: string, offset: number, lines: number): LogsResponse {
    const row = this.owned(tokenId, id);
    const entry = this.entryOf(row);
    const running = row.status === "running" || row.status === "provisioning";
    if (!entry) return { text: offset === 0 && row.error_message ? `${row.error_message}\n` : "", offset, running };
    const chunk = readFrom(entry.dir.logPath, offset, 4 * 1024 * 1024);
    if (!chunk) return { text: "", offset, running };
    const text = offset === 0 && lines > 0 ? lastLines(chunk.text, lines) : chunk.text;
    return { text, offset: chunk.end, running };
  }

  /** Stops and frees every deployment whose TTL has passed. */
  async expire(): Promise<void> {
    const now = new Date().toISOString();
    for (const row of this.store.expiredDeployments(now)) {
      if (this.chains.has(row.id)) continue; // busy (a VM still booting): the next sweep takes it
      await this.serial(row.id, async () => {
        const current = this.store.deployment(row.id);
        if (!current || current.freed || !current.expires_at || current.expires_at > new Date().toISOString()) return;
        await this.free(current);
        const status: RowStatus = current.status === "failed" ? "failed" : "stopped";
        this.setStatus(current, status, { freed: 1, stopped_at: current.stopped_at ?? new Date().toISOString(), error_message: `TTL of ${current.ttl_seconds} s expired` });
        if (current.status === status) this.log(`deployment ${current.id}: TTL expired, resources freed`);
      });
    }
  }

  /** After a restart (and periodically): rows that say running or provisioning are checked against reality. */
  async reconcileAll(context: string): Promise<void> {
    for (const row of this.store.activeDeployments()) {
      if (this.chains.has(row.id)) continue;
      await this.serial(row.id, async () => {
        const current = this.store.deployment(row.id);
        if (!current) return;
        if (current.status === "provisioning" && context === "server restarted") {
          await this.free(current);
          this.setStatus(current, "failed", { error_message: "the server restarted while it was provisioning", freed: 1, stopped_at: new Date().toISOString() });
          return;
        }
        await this.reconcile(current, context, true);
      });
    }
  }
}
