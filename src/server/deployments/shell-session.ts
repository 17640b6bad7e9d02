// Shell sessions handed out by POST /deployed-sandboxes/:id/shell-session: a short-lived token
// for one deployment's shell stream, for clients that cannot set an Authorization header on a
// WebSocket (browsers). HMAC-SHA256 with the server's secret over (token id, deployment id,
// expiry); the caller's API token must still be live when the socket opens.
import { createHmac, timingSafeEqual } from "node:crypto";

/** How long a shell-session token opens a socket. */
export const SHELL_SESSION_TTL_SECONDS = 60;

/** The query parameter the shell stream takes it in. */
export const SHELL_SESSION_PARAM = "session_token";

function mac(secret: Buffer, tokenId: string, deploymentId: string, expires: number): string {
  return createHmac("sha256", secret).update(`SHELL\n${tokenId}\n${deploymentId}\n${expires}`).digest("base64url");
}

export function signShellSession(secret: Buffer, tokenId: string, deploymentId: string, nowSeconds = Date.now() / 1000): { token: string; expires: number } {
  const expires = Math.floor(nowSeconds) + SHELL_SESSION_TTL_SECONDS;
  return { token: `${tokenId}.${expires}.${mac(secret, tokenId, deploymentId, expires)}`, expires };
}

/** The API token id the session token was made for, or undefined when it is not a valid, unexpired one for this deployment. */
export function checkShellSession(secret: Buffer, token: string, deploymentId: string, nowSeconds = Date.now() / 1000): string | undefined {
  const match = /^([A-Za-z0-9_-]{1,100})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!match) return undefined;
  const [, tokenId = "", expiresText = "", sig = ""] = match;
  const expires = Number(expiresText);
  const expected = Buffer.from(mac(secret, tokenId, deploymentId, expires));
  if (!timingSafeEqual(expected, Buffer.from(sig)) || expires < nowSeconds) return undefined;
  return tokenId;
}
