// The owner's side of owner.sock: answers status and accepts stop requests.
import { createServer, type Server } from "node:net";
import { rmSync } from "node:fs";
import type { OwnerAnswer, OwnerRequest } from "../shared/owner-protocol.js";

export interface ControlHandlers {
  status(): OwnerAnswer;
  stop(reason: string): void;
}

function parseRequest(line: string): OwnerRequest | undefined {
  try {
    const value: unknown = JSON.parse(line);
    if (typeof value !== "object" || value === null) return undefined;
    const op = (value as { op?: unknown }).op;
    if (op === "status") return { op };
    if (op === "stop") {
      const reason = (value as { reason?: unknown }).reason;
      return { op, reason: typeof reason === "string" ? reason : undefined };
    }
  } catch {
    // fall through: malformed
  }
  return undefined;
}

export function serveControl(socketPath: string, handlers: ControlHandlers): Promise<Server> {
  rmSync(socketPath, { force: true }); // a socket left by a dead owner; the caller holds the start lock
  const server = createServer((socket) => {
    let buffer = "";
    socket.setEncoding("utf8");
    socket.on("error", () => undefined);
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf("\n")) !== -1) {
        const request = parseRequest(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
        if (!request) {
          socket.write(`${JSON.stringify({ ok: false, error: "malformed request" })}\n`);
        } else if (request.op === "status") {
          socket.write(`${JSON.stringify(handlers.status())}\n`);
        } else {
          socket.write(`${JSON.stringify({ ok: true })}\n`);
          handlers.stop(request.reason ?? "stop requested");
        }
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}
