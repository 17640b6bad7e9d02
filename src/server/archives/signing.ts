// Upload URLs are their own credential: HMAC-SHA256 over (method, archive id, expiry) with a
// secret that never leaves the server's data folder, and an expiry in the URL itself.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { isErrnoError } from "../../shared/errors.js";

export function loadOrCreateSecret(path: string): Buffer {
  try {
    return Buffer.from(readFileSync(path, "utf8").trim(), "hex");
  } catch (error) {
    if (!isErrnoError(error) || error.code !== "ENOENT") throw error;
  }
  const secret = randomBytes(32);
  writeFileSync(path, `${secret.toString("hex")}\n`, { mode: 0o600, flag: "wx" });
  return secret;
}

function mac(secret: Buffer, archiveId: string, expires: number): string {
  return createHmac("sha256", secret).update(`PUT\n${archiveId}\n${expires}`).digest("hex");
}

/** The query string of a signed upload URL for archiveId, valid until `expires` (unix seconds). */
export function signUpload(secret: Buffer, archiveId: string, expires: number): string {
  return `expires=${expires}&sig=${mac(secret, archiveId, expires)}`;
}

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

export function checkUploadSignature(secret: Buffer, archiveId: string, query: URLSearchParams, nowSeconds = Date.now() / 1000): SignatureCheck {
  const expires = Number(query.get("expires"));
  const sig = query.get("sig") ?? "";
  if (!Number.isInteger(expires) || !/^[0-9a-f]{64}$/.test(sig)) return { ok: false, reason: "the upload URL is not signed" };
  const expected = Buffer.from(mac(secret, archiveId, expires), "hex");
  if (!timingSafeEqual(expected, Buffer.from(sig, "hex"))) return { ok: false, reason: "the upload URL's signature is wrong" };
  if (expires < nowSeconds) return { ok: false, reason: "the upload URL has expired; ask for a new one" };
  return { ok: true };
}
