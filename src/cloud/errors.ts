// Turns what the cloud answered (status + body) or a failed connection into one UserError
// subclass with a line the user can act on.
import { AuthError, ConflictError, NotFoundError, OperationFailedError, UnavailableError, UserError, errorMessage } from "../shared/errors.js";
import { ErrorBody } from "./schema.js";

export function messageFromBody(text: string): string | undefined {
  try {
    const parsed = ErrorBody.safeParse(JSON.parse(text));
    if (parsed.success) return parsed.data.error ?? parsed.data.message;
  } catch {
    // not JSON
  }
  const trimmed = text.trim();
  return trimmed && trimmed.length < 300 ? trimmed : undefined;
}

/** The error for an HTTP status from the cloud; `what` names the request ("create sandbox"). */
export function cloudHttpError(status: number, body: string, what: string): UserError {
  const detail = messageFromBody(body) ?? `HTTP ${status}`;
  if (status === 401) return new AuthError(`the cloud refused the credentials (${detail})`, "run `heyvm login` again, or check HEYO_API_KEY");
  if (status === 403) return new AuthError(`not allowed to ${what}: ${detail}`);
  if (status === 404) return new NotFoundError(`${what}: ${detail}`, "see `heyvm list --cloud`");
  if (status === 409) return new ConflictError(`${what}: ${detail}`);
  if (status === 413) return new UserError(`${what}: ${detail}`, { hint: "the archive is too large for this cloud: add big folders to .gitignore" });
  if (status === 402 || status === 429) return new OperationFailedError(`${what}: quota exceeded (${detail})`, "stop sandboxes you no longer need (`heyvm list --cloud`, `heyvm stop dep-…`)");
  if (status === 400 || status === 422) return new UserError(`${what}: the cloud rejected the request: ${detail}`);
  if (status >= 500) return new OperationFailedError(`${what}: the cloud failed (HTTP ${status}: ${detail})`, "try again; if it persists, see the server's log");
  return new OperationFailedError(`${what}: unexpected HTTP ${status} from the cloud (${detail})`);
}

function causeCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === "string") return code;
    current = current.cause;
  }
  return undefined;
}

/**
 * A connection that was cut under a request (the server closing a kept-alive connection just as
 * it was reused, say): for a request that is safe to send again, not a sign that the cloud is down.
 */
export function isConnectionReset(error: unknown): boolean {
  const code = causeCode(error);
  return code === "ECONNRESET" || code === "EPIPE" || code === "UND_ERR_SOCKET";
}

/** fetch/ws failed before any answer: the cloud is down, unreachable or the address is wrong. */
export function cloudConnectionError(baseUrl: string, error: unknown): UserError {
  const code = causeCode(error);
  const why = code ?? errorMessage(error);
  return new UnavailableError(`cannot reach the cloud at ${baseUrl} (${why})`, "check --cloud-url / HEYO_CLOUD_URL, and that the server is running");
}
