// Where the server listens, and nothing else there: a port another program holds is refused at
// start (a process that took the API's port would receive the next client's token), and so is
// the other loopback address on that port, where a client asking for "localhost" may land
// instead; that one is then held by the server too. What it listens on is also what the port
// proxy must never forward to (a loop through the server itself).
import type { Server as HttpServer } from "node:http";
import { createServer, isIP, type Server } from "node:net";
import { networkInterfaces } from "node:os";
import { UnavailableError, isErrnoError } from "../../shared/errors.js";

export interface Listening {
  host: string;
  port: number;
  /** The address as a URL host (IPv6 in brackets). */
  urlHost: string;
  /** Whether host:port is this server itself. */
  isOwnAddress(host: string, port: number): boolean;
  close(): Promise<void>;
}

function bracketed(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  return bare === "localhost" || bare === "::1" || bare.startsWith("127.") || bare.startsWith("::ffff:127.");
}

function isUnspecified(host: string): boolean {
  return host === "0.0.0.0" || host === "::";
}

function listenError(error: unknown, where: string): Error {
  if (isErrnoError(error) && error.code === "EADDRINUSE") {
    return new UnavailableError(`${where} is already in use by another program`, "stop that program, or give `heyvm server --listen` another port");
  }
  if (isErrnoError(error) && error.code === "EACCES") return new UnavailableError(`not allowed to listen on ${where}`, "use a port above 1023, or run as a user that may bind it");
  if (isErrnoError(error) && error.code === "EADDRNOTAVAIL") return new UnavailableError(`${where} is not an address of this host`, "give `heyvm server --listen` an address this host has");
  return error instanceof Error ? error : new Error(String(error));
}

function listenOnce(server: HttpServer | Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: unknown) => reject(error);
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** The other loopback address, when listening on one of them (or on all IPv4 addresses). */
function siblingLoopback(host: string): string | undefined {
  if (host === "::1") return "127.0.0.1";
  if (host.startsWith("127.") || host === "0.0.0.0") return "::1";
  return undefined;
}

/**
 * Listens on host:port, refusing (UnavailableError) when it or the other loopback address on
 * the same port is taken. Connections to the held loopback address are served by `server` too.
 */
export async function listenExclusively(server: HttpServer, host: string, port: number): Promise<Listening> {
  try {
    await listenOnce(server, port, host);
  } catch (error) {
    throw listenError(error, `${bracketed(host)}:${port}`);
  }
  const address = server.address();
  const bound = typeof address === "object" && address ? address : { address: host, port };
  const sibling = siblingLoopback(bound.address);
  let holder: Server | undefined;
  if (sibling) {
    holder = createServer((socket) => server.emit("connection", socket));
    try {
      await listenOnce(holder, bound.port, sibling);
    } catch (error) {
      holder = undefined;
      const missing = isErrnoError(error) && (error.code === "EADDRNOTAVAIL" || error.code === "EAFNOSUPPORT");
      if (!missing) {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        throw listenError(error, `${bracketed(sibling)}:${bound.port}`);
      }
    }
  }
  const own = new Set([bound.address, sibling].filter((h): h is string => h !== undefined).map((h) => h.toLowerCase()));
  return {
    host: bound.address,
    port: bound.port,
    urlHost: bracketed(bound.address),
    isOwnAddress(target, targetPort) {
      if (targetPort !== bound.port) return false;
      const bare = target.replace(/^\[|\]$/g, "").toLowerCase();
      if (isLoopback(bare) || own.has(bare)) return true;
      if (!isUnspecified(bound.address)) return false;
      return Object.values(networkInterfaces()).some((list) => list?.some((item) => item.address.toLowerCase() === bare));
    },
    async close() {
      if (holder) await closeServer(holder);
    },
  };
}
