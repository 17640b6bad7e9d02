// The server's state in an embedded SQLite database (better-sqlite3): API tokens, archives,
// deployments and exposed ports. Synchronous and in-process, so there is no database to run.
import Database from "better-sqlite3";
import { chmodSync, closeSync, openSync } from "node:fs";
import { ACTIVE_DEPLOYMENT_STATES, type DeploymentState } from "../cloud/schema.js";

export interface TokenRow {
  id: string;
  name: string;
  hash: string;
  created_at: string;
  revoked_at: string | null;
}

export type ArchiveStatus = "pending" | "ready";

export interface ArchiveRow {
  id: string;
  token_id: string;
  status: ArchiveStatus;
  size_bytes: number;
  name: string | null;
  sandbox_id: string | null;
  created_at: string;
}

export interface DeploymentRow {
  id: string;
  token_id: string;
  name: string;
  status: DeploymentState;
  driver: string;
  image: string;
  region: string;
  size_class: string;
  ttl_seconds: number | null;
  /** JSON: the guest ports to expose (read with openPorts). */
  open_ports: string;
  archive_id: string | null;
  start_command: string | null;
  working_directory: string;
  /** JSON: the start command's and exec's environment (read with envVars). */
  env_vars: string;
  sandbox_id: string | null;
  error_message: string | null;
  created_at: string;
  started_at: string | null;
  stopped_at: string | null;
  expires_at: string | null;
  /** 1 once the sandbox and workspace were deleted (TTL expiry); it cannot be started again. */
  freed: number;
  deleted: number;
}

function parseJson<T>(text: string, fallback: T): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

export function openPorts(row: DeploymentRow): number[] {
  return parseJson<number[]>(row.open_ports, []);
}

export function envVars(row: DeploymentRow): Record<string, string> {
  return parseJson<Record<string, string>>(row.env_vars, {});
}

export interface EndpointRow {
  id: string;
  token_id: string;
  deployment_id: string;
  port: number;
  is_public: number;
  created_at: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, revoked_at TEXT);
CREATE TABLE IF NOT EXISTS archives (id TEXT PRIMARY KEY, token_id TEXT NOT NULL, status TEXT NOT NULL, size_bytes INTEGER NOT NULL DEFAULT 0,
  name TEXT, sandbox_id TEXT, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deployments (id TEXT PRIMARY KEY, token_id TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, driver TEXT NOT NULL,
  image TEXT NOT NULL, region TEXT NOT NULL, size_class TEXT NOT NULL, ttl_seconds INTEGER, open_ports TEXT NOT NULL, archive_id TEXT,
  start_command TEXT, working_directory TEXT NOT NULL, env_vars TEXT NOT NULL, sandbox_id TEXT, error_message TEXT, created_at TEXT NOT NULL,
  started_at TEXT, stopped_at TEXT, expires_at TEXT, freed INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS endpoints (id TEXT PRIMARY KEY, token_id TEXT NOT NULL, deployment_id TEXT NOT NULL, port INTEGER NOT NULL,
  is_public INTEGER NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS deployments_token ON deployments(token_id);
CREATE INDEX IF NOT EXISTS archives_token ON archives(token_id);
`;

type Patch<T> = Partial<Omit<T, "id">>;

/** The SQL condition of an active deployment, from the one list of active states. */
const ACTIVE = `status IN (${ACTIVE_DEPLOYMENT_STATES.map((state) => `'${state}'`).join(", ")})`;

export class Store {
  private readonly db: Database.Database;

  constructor(path: string) {
    // tokens' hashes and every tenant's records: the server's user only (SQLite gives -wal and -shm the same mode)
    closeSync(openSync(path, "a", 0o600));
    for (const file of [path, `${path}-wal`, `${path}-shm`]) {
      try {
        chmodSync(file, 0o600);
      } catch {
        // -wal and -shm exist only while the database is open somewhere
      }
    }
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL"); // operator commands (token create) may run beside the server
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(SCHEMA);
    // rows deleted by an earlier version kept the status they had; a deleted deployment runs nothing
    this.db.exec(`UPDATE deployments SET status = 'stopped' WHERE deleted = 1 AND ${ACTIVE}`);
  }

  close(): void {
    this.db.close();
  }

  private update<T extends { id: string }>(table: string, id: string, patch: Patch<T>): void {
    const keys = Object.keys(patch);
    if (keys.length === 0) return;
    const sets = keys.map((key) => `${key} = @${key}`).join(", ");
    this.db.prepare(`UPDATE ${table} SET ${sets} WHERE id = @id`).run({ ...patch, id });
  }

  insertToken(row: TokenRow): void {
    this.db.prepare("INSERT INTO tokens (id, name, hash, created_at, revoked_at) VALUES (@id, @name, @hash, @created_at, @revoked_at)").run(row);
  }
  tokenByHash(hash: string): TokenRow | undefined {
    return this.db.prepare<[string], TokenRow>("SELECT * FROM tokens WHERE hash = ?").get(hash);
  }
  tokens(): TokenRow[] {
    return this.db.prepare<[], TokenRow>("SELECT * FROM tokens ORDER BY created_at").all();
  }
  /** Whether the token exists and is not revoked. */
  isTokenLive(id: string): boolean {
    return this.db.prepare<[string], { n: number }>("SELECT COUNT(*) AS n FROM tokens WHERE id = ? AND revoked_at IS NULL").get(id)?.n === 1;
  }
  revokeToken(id: string, at: string): boolean {
    return this.db.prepare("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL").run(at, id).changes > 0;
  }

  insertArchive(row: ArchiveRow): void {
    this.db.prepare("INSERT INTO archives VALUES (@id, @token_id, @status, @size_bytes, @name, @sandbox_id, @created_at)").run(row);
  }
  archive(id: string): ArchiveRow | undefined {
    return this.db.prepare<[string], ArchiveRow>("SELECT * FROM archives WHERE id = ?").get(id);
  }
  archivesOf(tokenId: string): ArchiveRow[] {
    return this.db.prepare<[string], ArchiveRow>("SELECT * FROM archives WHERE token_id = ? AND status = 'ready' ORDER BY created_at").all(tokenId);
  }
  updateArchive(id: string, patch: Patch<ArchiveRow>): void {
    this.update<ArchiveRow>("archives", id, patch);
  }
  /** Archives presigned before `beforeIso` and never finalized (abandoned uploads). */
  stalePendingArchives(beforeIso: string): ArchiveRow[] {
    return this.db.prepare<[string], ArchiveRow>("SELECT * FROM archives WHERE status = 'pending' AND created_at < ?").all(beforeIso);
  }
  /** Every archive of a token, uploaded or not (what its storage counts). */
  allArchivesOf(tokenId: string): ArchiveRow[] {
    return this.db.prepare<[string], ArchiveRow>("SELECT * FROM archives WHERE token_id = ?").all(tokenId);
  }
  deleteArchive(id: string): void {
    this.db.prepare("DELETE FROM archives WHERE id = ?").run(id);
  }

  insertDeployment(row: DeploymentRow): void {
    const keys = Object.keys(row);
    this.db.prepare(`INSERT INTO deployments (${keys.join(", ")}) VALUES (${keys.map((k) => `@${k}`).join(", ")})`).run(row);
  }
  deployment(id: string): DeploymentRow | undefined {
    return this.db.prepare<[string], DeploymentRow>("SELECT * FROM deployments WHERE id = ? AND deleted = 0").get(id);
  }
  deploymentsOf(tokenId: string): DeploymentRow[] {
    return this.db.prepare<[string], DeploymentRow>("SELECT * FROM deployments WHERE token_id = ? AND deleted = 0 ORDER BY created_at").all(tokenId);
  }
  /** Deployments that say they have a machine (active): what is checked against reality. */
  activeDeployments(): DeploymentRow[] {
    return this.db.prepare<[], DeploymentRow>(`SELECT * FROM deployments WHERE deleted = 0 AND ${ACTIVE} ORDER BY created_at`).all();
  }
  expiredDeployments(nowIso: string): DeploymentRow[] {
    return this.db
      .prepare<[string], DeploymentRow>("SELECT * FROM deployments WHERE deleted = 0 AND freed = 0 AND expires_at IS NOT NULL AND expires_at <= ?")
      .all(nowIso);
  }
  /** Stopped deployments still holding their workspace that stopped before `beforeIso` (the sweep frees them). */
  longStoppedDeployments(beforeIso: string): DeploymentRow[] {
    return this.db
      .prepare<[string], DeploymentRow>("SELECT * FROM deployments WHERE deleted = 0 AND freed = 0 AND status IN ('stopped', 'failed') AND stopped_at IS NOT NULL AND stopped_at <= ?")
      .all(beforeIso);
  }
  /** Active deployments whose token has been revoked (the sweep stops them). */
  activeDeploymentsOfRevokedTokens(): DeploymentRow[] {
    return this.db
      .prepare<[], DeploymentRow>(`SELECT * FROM deployments WHERE deleted = 0 AND ${ACTIVE} AND token_id IN (SELECT id FROM tokens WHERE revoked_at IS NOT NULL) ORDER BY created_at`)
      .all();
  }
  /** Archives still waiting for their upload whose token has been revoked. */
  pendingArchivesOfRevokedTokens(): ArchiveRow[] {
    return this.db.prepare<[], ArchiveRow>("SELECT * FROM archives WHERE status = 'pending' AND token_id IN (SELECT id FROM tokens WHERE revoked_at IS NOT NULL)").all();
  }
  revokedTokenIds(): string[] {
    return this.db.prepare<[], { id: string }>("SELECT id FROM tokens WHERE revoked_at IS NOT NULL").all().map((row) => row.id);
  }
  countActive(tokenId: string): number {
    const row = this.db.prepare<[string], { n: number }>(`SELECT COUNT(*) AS n FROM deployments WHERE token_id = ? AND deleted = 0 AND ${ACTIVE}`).get(tokenId);
    return row?.n ?? 0;
  }
  updateDeployment(id: string, patch: Patch<DeploymentRow>): void {
    this.update<DeploymentRow>("deployments", id, patch);
  }

  insertEndpoint(row: EndpointRow): void {
    this.db.prepare("INSERT INTO endpoints VALUES (@id, @token_id, @deployment_id, @port, @is_public, @created_at)").run(row);
  }
  endpoint(id: string): EndpointRow | undefined {
    return this.db.prepare<[string], EndpointRow>("SELECT * FROM endpoints WHERE id = ?").get(id);
  }
  endpointsOf(deploymentId: string): EndpointRow[] {
    return this.db.prepare<[string], EndpointRow>("SELECT * FROM endpoints WHERE deployment_id = ? ORDER BY port").all(deploymentId);
  }
  /** Removes a deployment's endpoints of one port (unbind); how many there were. */
  deleteEndpointsOfPort(deploymentId: string, port: number): number {
    return this.db.prepare("DELETE FROM endpoints WHERE deployment_id = ? AND port = ?").run(deploymentId, port).changes;
  }
  deleteEndpointsOf(deploymentId: string): void {
    this.db.prepare("DELETE FROM endpoints WHERE deployment_id = ?").run(deploymentId);
  }
}
