// The image registry's records: published images (private to the token that published them) and
// which deployment runs which image. Kept in the server's database file, in tables of their own
// and over a connection of their own (WAL mode allows it), so the registry stays one module.
import Database from "better-sqlite3";

export type ImageStatus = "pending" | "ready";

export interface ImageRow {
  id: string;
  token_id: string;
  name: string;
  backend_type: string;
  format: string | null;
  description: string | null;
  status: ImageStatus;
  /** The size and sha256 the client declared at presign. */
  size_bytes: number;
  sha256: string;
  /** What the upload really brought (set once it completes). */
  received_bytes: number | null;
  received_sha256: string | null;
  created_at: string;
}

/** A deployment started from a published image: the driver asked for and the one that runs it. */
export interface ImageUseRow {
  deployment_id: string;
  image_id: string;
  requested_driver: string;
  effective_driver: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS images (id TEXT PRIMARY KEY, token_id TEXT NOT NULL, name TEXT NOT NULL, backend_type TEXT NOT NULL, format TEXT,
  description TEXT, status TEXT NOT NULL, size_bytes INTEGER NOT NULL, sha256 TEXT NOT NULL, received_bytes INTEGER, received_sha256 TEXT,
  created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS images_token ON images(token_id);
CREATE TABLE IF NOT EXISTS image_uses (deployment_id TEXT PRIMARY KEY, image_id TEXT NOT NULL, requested_driver TEXT NOT NULL, effective_driver TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS image_uses_image ON image_uses(image_id);
`;

export class ImageStore {
  private readonly db: Database.Database;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(SCHEMA);
  }

  close(): void {
    this.db.close();
  }

  insert(row: ImageRow): void {
    this.db
      .prepare("INSERT INTO images VALUES (@id, @token_id, @name, @backend_type, @format, @description, @status, @size_bytes, @sha256, @received_bytes, @received_sha256, @created_at)")
      .run(row);
  }
  image(id: string): ImageRow | undefined {
    return this.db.prepare<[string], ImageRow>("SELECT * FROM images WHERE id = ?").get(id);
  }
  /** The token's images (ready ones unless pending is asked for), newest first. */
  imagesOf(tokenId: string, backend?: string): ImageRow[] {
    const rows = this.db.prepare<[string], ImageRow>("SELECT * FROM images WHERE token_id = ? AND status = 'ready' ORDER BY created_at DESC, id").all(tokenId);
    return backend ? rows.filter((row) => row.backend_type === backend) : rows;
  }
  /** The newest ready image of that name for that backend (what `image: <name>` deploys). */
  newest(tokenId: string, backend: string, name: string): ImageRow | undefined {
    return this.db
      .prepare<[string, string, string], ImageRow>("SELECT * FROM images WHERE token_id = ? AND backend_type = ? AND name = ? AND status = 'ready' ORDER BY created_at DESC, id DESC LIMIT 1")
      .get(tokenId, backend, name);
  }
  /** Every image of a token, pending or ready (what its storage counts). */
  allOf(tokenId: string): ImageRow[] {
    return this.db.prepare<[string], ImageRow>("SELECT * FROM images WHERE token_id = ?").all(tokenId);
  }
  /** Every image row of a token, pending or ready (what the per-token limit counts). */
  countOf(tokenId: string): number {
    return this.db.prepare<[string], { n: number }>("SELECT COUNT(*) AS n FROM images WHERE token_id = ?").get(tokenId)?.n ?? 0;
  }
  stalePending(tokenId: string, beforeIso: string): ImageRow[] {
    return this.db.prepare<[string, string], ImageRow>("SELECT * FROM images WHERE token_id = ? AND status = 'pending' AND created_at < ?").all(tokenId, beforeIso);
  }
  update(id: string, patch: Partial<Omit<ImageRow, "id">>): void {
    const keys = Object.keys(patch);
    if (keys.length === 0) return;
    this.db.prepare(`UPDATE images SET ${keys.map((key) => `${key} = @${key}`).join(", ")} WHERE id = @id`).run({ ...patch, id });
  }
  delete(id: string): void {
    this.db.prepare("DELETE FROM images WHERE id = ?").run(id);
  }

  recordUse(row: ImageUseRow): void {
    this.db.prepare("INSERT OR REPLACE INTO image_uses VALUES (@deployment_id, @image_id, @requested_driver, @effective_driver)").run(row);
  }
  useOf(deploymentId: string): ImageUseRow | undefined {
    return this.db.prepare<[string], ImageUseRow>("SELECT * FROM image_uses WHERE deployment_id = ?").get(deploymentId);
  }
  usesOf(imageId: string): ImageUseRow[] {
    return this.db.prepare<[string], ImageUseRow>("SELECT * FROM image_uses WHERE image_id = ?").all(imageId);
  }
}
