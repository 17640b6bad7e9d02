// Archive uploads: the signed PUT that writes an archive, and the rule that an archive is
// immutable once finalized. A PUT is written to a .part file and renamed into place only if the
// archive is still pending and not being finalized; finalize refuses while a PUT is under way,
// and a PUT is refused while finalize checks the file, so what was checked is what gets unpacked.
// The URL stops working at finalize (and when its token is revoked).
import { randomBytes } from "node:crypto";
import { createWriteStream, readdirSync, renameSync, rmSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import type { ServerData } from "../config.js";
import { HttpError } from "../http/messages.js";
import type { Store } from "../store.js";

/** Which archives (or images) have a PUT or a finalize under way (in this process: the only writer). */
export class UploadGuard {
  private readonly uploading = new Set<string>();
  private readonly finalizing = new Set<string>();

  /** Marks a PUT under way; returns its end. 409 while another PUT or the finalize runs. */
  beginUpload(id: string): () => void {
    if (this.finalizing.has(id)) throw new HttpError(409, `${id} is being finalized; it takes no more uploads`, "finalized");
    if (this.uploading.has(id)) throw new HttpError(409, `an upload to ${id} is already under way`, "upload_in_progress");
    this.uploading.add(id);
    return () => this.uploading.delete(id);
  }

  /** Marks a finalize under way; returns its end. 409 while a PUT is still writing the archive. */
  beginFinalize(id: string): () => void {
    if (this.uploading.has(id)) throw new HttpError(409, `an upload to ${id} is still under way; finalize once it has completed`, "upload_in_progress");
    if (this.finalizing.has(id)) throw new HttpError(409, `${id} is already being finalized`, "finalize_in_progress");
    this.finalizing.add(id);
    return () => this.finalizing.delete(id);
  }

  isFinalizing(id: string): boolean {
    return this.finalizing.has(id);
  }
}

/**
 * Writes the request body to a .part file, at most limitBytes (413 beyond, the request left to
 * drain), handing each chunk to onChunk too (an image's sha256); resolves with the size.
 */
export function receiveBody(req: IncomingMessage, part: string, limitBytes: number, onChunk?: (chunk: Buffer) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const out = createWriteStream(part, { mode: 0o600 });
    let size = 0;
    let settled = false;
    const finish = (error: unknown) => {
      if (settled) return;
      settled = true;
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("close", onClose);
      if (error === undefined) return resolve(size);
      out.destroy();
      req.resume(); // the body goes on being drained, not written
      reject(error instanceof Error ? error : new Error(String(error)));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) return finish(new HttpError(413, `the upload is larger than its limit of ${limitBytes} bytes`, "too_large"));
      onChunk?.(chunk);
      if (!out.write(chunk)) {
        req.pause();
        out.once("drain", () => req.resume());
      }
    };
    const onEnd = () => out.end(() => finish(undefined));
    const onClose = () => {
      if (!req.complete) finish(new HttpError(400, "the upload did not complete: the client went away", "upload_incomplete"));
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("close", onClose);
    out.on("error", (error) => finish(error));
  });
}

export interface UploadServices {
  store: Store;
  data: ServerData;
  uploads: UploadGuard;
  config: { maxUploadBytes: number };
}

/** Receives the PUT of a pending archive; returns its size. */
export async function receiveUpload(services: UploadServices, id: string, req: IncomingMessage): Promise<number> {
  const row = services.store.archive(id);
  if (!row) throw new HttpError(404, `no archive ${id}`, "not_found");
  if (row.status !== "pending") throw new HttpError(409, `archive ${id} is already finalized`, "finalized");
  if (!services.store.isTokenLive(row.token_id)) throw new HttpError(403, "the upload URL's token has been revoked", "revoked");
  const limit = services.config.maxUploadBytes;
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw new HttpError(413, `the archive is ${declared} bytes; this server takes at most ${limit}`, "too_large");
  const end = services.uploads.beginUpload(id);
  const part = services.data.uploadPartPath(id, randomBytes(3).toString("hex"));
  try {
    const size = await receiveBody(req, part, limit);
    // the last word, with nothing awaited between it and the rename: still pending, not being finalized
    const now = services.store.archive(id);
    if (!now || now.status !== "pending" || services.uploads.isFinalizing(id)) throw new HttpError(409, `archive ${id} was finalized or removed during the upload`, "finalized");
    renameSync(part, services.data.archivePath(id));
    services.store.updateArchive(id, { size_bytes: size });
    return size;
  } finally {
    rmSync(part, { force: true });
    end();
  }
}

/** Removes the .part files of an archive's uploads (all of them when no id is given: none can be under way at start). */
export function removeUploadParts(data: ServerData, id?: string): number {
  let removed = 0;
  let names: string[] = [];
  try {
    names = readdirSync(data.archives);
  } catch {
    return 0;
  }
  for (const name of names) {
    if (!data.isUploadPart(name, id)) continue;
    rmSync(`${data.archives}/${name}`, { force: true });
    removed += 1;
  }
  return removed;
}
