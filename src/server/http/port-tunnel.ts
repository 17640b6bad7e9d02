// The port-forward tunnel, GET /deployed-sandboxes/<id>/ports/<port>/tunnel as a WebSocket: one
// TCP connection of the client's to a port of its own running deployment, carried as binary
// messages both ways. The token was checked by the caller (401 first); the deployment must be
// the token's (404 otherwise, as everywhere) and running (409); the connection takes a place
// under the relay caps (429 beyond) until either side closes, which ends the connector too.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { WebSocket, WebSocketServer } from "ws";
import type { DeploymentServices } from "../context.js";
import { runningSandbox } from "../deployments/exec.js";
import { openDeploymentPort } from "../deployments/guest-relay.js";
import { HttpError } from "./messages.js";

export const TUNNEL_PATH = /^\/deployed-sandboxes\/([^/]+)\/ports\/([^/]+)\/tunnel$/;

/** How much of the guest's output may wait for a slow client before the guest is read no further. */
const HIGH_WATER_BYTES = 1 << 20;

/** Carries bytes between the WebSocket and the guest port until one side closes. */
function carry(ws: WebSocket, guest: Duplex): void {
  guest.on("error", () => ws.terminate());
  guest.on("data", (data: Buffer) => {
    ws.send(data, { binary: true });
    if (ws.bufferedAmount > HIGH_WATER_BYTES) {
      guest.pause();
      const poll = setInterval(() => {
        if (ws.bufferedAmount <= HIGH_WATER_BYTES || ws.readyState !== ws.OPEN) {
          clearInterval(poll);
          guest.resume();
        }
      }, 20);
    }
  });
  guest.on("end", () => ws.close(1000, "the port closed the connection"));
  ws.on("message", (data: Buffer | ArrayBuffer | Buffer[]) => {
    guest.write(Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer));
  });
  ws.on("close", () => guest.destroy());
  ws.on("error", () => guest.destroy());
}

/** Serves one tunnel upgrade (path already matched by TUNNEL_PATH); refuse answers in plain HTTP. */
export function serveTunnel(parts: {
  services: DeploymentServices;
  wss: WebSocketServer;
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  tokenId: string;
  match: RegExpExecArray;
  refuse(error: unknown): void;
  served(): void;
}): void {
  const { services, wss, req, socket, head, tokenId, match, refuse } = parts;
  let deploymentId: string;
  try {
    deploymentId = decodeURIComponent(match[1] ?? "");
  } catch {
    return refuse(new HttpError(400, "the sandbox id in the path is not valid", "bad_request"));
  }
  const portText = match[2] ?? "";
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) return refuse(new HttpError(400, `the port must be a number from 1 to 65535, not "${portText}"`, "bad_request"));
  runningSandbox(services, tokenId, deploymentId)
    .then(({ entry }) => openDeploymentPort(services, tokenId, entry, deploymentId, port))
    .then((guest) => {
      if (socket.destroyed) return void guest.destroy(); // the client left meanwhile
      socket.once("close", () => guest.destroy());
      wss.handleUpgrade(req, socket, head, (ws) => {
        parts.served();
        carry(ws, guest);
      });
    })
    .catch(refuse);
}
