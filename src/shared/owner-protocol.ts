// The owner's control socket (owner.sock), in one place: the requests and answers, the client
// everything uses to ask an owner (liveness checks, stop), the server the Node owner runs, and
// the stop timings both owners follow. The socket speaks one JSON object per line each way; the
// native owner monitor (native/monitor/control.c) speaks the same, which a test checks by sending
// the same requests to both.
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { rmSync } from "node:fs";

// ---- Stop timings. The native monitor is given them on its argv (it has no defaults of its own).

/** How long an owner gives its guest to shut down on its own before ending it by force. */
export const STOP_GRACE_MS = 10_000;

/**
 * How long the native monitor lets its stop command (`heyvm __sandbox_stop`: a fresh Node
 * process that loads the backend, waits out the grace and powers a VM off) run before it ends
 * the command and the machine by force: the grace plus 10 s for the command's own work.
 */
export const STOP_COMMAND_TIMEOUT_MS = STOP_GRACE_MS + 10_000;

/**
 * How long the native monitor waits, once it has killed its machine, for a process that is the
 * machine without being its child (QEMU under libvirtd) to end too.
 */
export const STOP_FORCE_WAIT_MS = 10_000;

/** What an owner needs after its machine is gone: exit.json, removing its records, exiting. */
const OWNER_CLEAN_UP_MS = 5_000;

/**
 * How long `heyvm stop` waits for an owner before ending it by force: everything a stop can
 * take, so that a slow but healthy stop is never cut short.
 */
export const STOP_WAIT_MS = STOP_COMMAND_TIMEOUT_MS + STOP_FORCE_WAIT_MS + OWNER_CLEAN_UP_MS;

// ---- Requests and answers.

/**
 * The longest request line, its newline included. A longer one is answered as malformed and its
 * connection closed: the native monitor reads requests into a buffer of this size.
 */
export const OWNER_REQUEST_MAX_BYTES = 4096;

/** The answer to anything that is not a known request (not JSON, unknown op, too long). */
export const MALFORMED_ANSWER: OwnerErrorAnswer = { ok: false, error: "malformed request" };

/** The reason a stop request without one is recorded with. */
export const DEFAULT_STOP_REASON = "stop requested";

export type OwnerRequest = { op: "status" } | { op: "stop"; reason?: string };

export interface OwnerStatusAnswer {
  ok: true;
  id: string;
  pid: number;
  state: "starting" | "running" | "stopping";
}

export interface OwnerAckAnswer {
  ok: true;
}

export interface OwnerErrorAnswer {
  ok: false;
  error: string;
}

export type OwnerAnswer = OwnerStatusAnswer | OwnerAckAnswer | OwnerErrorAnswer;

// ---- The client.

/** Sends one request and waits for one answer line; rejects on no answer within timeoutMs. */
export function askOwner(socketPath: string, request: OwnerRequest, timeoutMs = 1500): Promise<OwnerAnswer> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let buffer = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`owner socket ${socketPath} did not answer in ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      const newline = buffer.indexOf("\n");
      if (newline === -1) return;
      clearTimeout(timer);
      socket.end();
      try {
        resolve(JSON.parse(buffer.slice(0, newline)) as OwnerAnswer);
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      reject(new Error(`owner socket ${socketPath} closed without answering`));
    });
  });
}

// ---- The server (the Node owner's side; the native monitor has its own in C).

/** What the owner does on each request; stop is called after its answer is written. */
export interface ControlHandlers {
  status(): OwnerStatusAnswer;
  stop(reason: string): void;
}

/** A request line as the owner understands it, or undefined when it is malformed. */
function parseRequest(line: string): OwnerRequest | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { op, reason } = value as { op?: unknown; reason?: unknown };
  if (op === "status") return { op };
  if (op === "stop") return { op, reason: typeof reason === "string" ? reason : undefined };
  return undefined;
}

const NEWLINE = 0x0a;

function answerLine(answer: OwnerAnswer): string {
  return `${JSON.stringify(answer)}\n`;
}

/** Answers one connection's requests in order, as the native monitor does. */
function serveConnection(socket: Socket, handlers: ControlHandlers): void {
  let pending: Buffer = Buffer.alloc(0);
  let refused = false;
  const refuse = () => {
    refused = true;
    socket.end(answerLine(MALFORMED_ANSWER));
  };
  socket.on("error", () => undefined);
  socket.on("data", (chunk: Buffer) => {
    if (refused) return;
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let newline: number;
    while ((newline = pending.indexOf(NEWLINE)) !== -1) {
      if (newline + 1 > OWNER_REQUEST_MAX_BYTES) return refuse();
      const request = parseRequest(pending.subarray(0, newline).toString("utf8"));
      pending = pending.subarray(newline + 1);
      if (!request) {
        socket.write(answerLine(MALFORMED_ANSWER));
      } else if (request.op === "status") {
        socket.write(answerLine(handlers.status()));
      } else {
        socket.write(answerLine({ ok: true }));
        handlers.stop(request.reason ?? DEFAULT_STOP_REASON);
      }
    }
    if (pending.length >= OWNER_REQUEST_MAX_BYTES) refuse();
  });
}

/** Listens on owner.sock; resolves once it accepts connections. */
export function serveControl(socketPath: string, handlers: ControlHandlers): Promise<Server> {
  rmSync(socketPath, { force: true }); // a socket left by a dead owner; the caller holds the start lock
  const server = createServer((socket) => serveConnection(socket, handlers));
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}
