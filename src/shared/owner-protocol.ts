// The owner's control socket speaks one JSON object per line each way. Shared by the owner
// (server) and by everything that asks it (liveness checks, stop).
import { createConnection } from "node:net";

/** How long an owner gives its guest to shut down on its own before ending it by force. */
export const STOP_GRACE_MS = 10_000;

/**
 * How long the native owner monitor lets its stop command (the graceful shutdown) run before
 * ending the machine by force; with the monitor's 10 s wait for QEMU after that, a stop ends
 * within 30 s, inside the 35 s the `heyvm stop` command waits.
 */
export const STOP_COMMAND_TIMEOUT_MS = STOP_GRACE_MS + 10_000;

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
