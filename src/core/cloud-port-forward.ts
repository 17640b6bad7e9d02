// `port-forward dep-… <port>`: a listener on the host's 127.0.0.1 whose every connection is
// carried to the deployment's port through the server's tunnel route (a WebSocket per connection,
// authenticated with the API token, like the shell stream). Raw TCP, so any protocol works, not
// only HTTP. What comes back is bytes for the client that connected; heyvm neither reads nor shows them.
import { createServer, type Socket } from "node:net";
import WebSocket from "ws";
import { messageFromBody } from "../cloud/errors.js";
import { ConflictError } from "../shared/errors.js";
import type { HeyoHome } from "../state/home.js";
import { cloudClientFor } from "./cloud-sandboxes.js";
import { listenOnLoopback, type RunningRelay } from "./port-relay.js";

/** Why the server refused one connection (its status and message), for the command to tell the user. */
export type TunnelRefusal = (status: number | undefined, message: string) => void;

function carryConnection(socket: Socket, url: string, token: string, onRefused: TunnelRefusal): void {
  socket.on("error", () => socket.destroy());
  socket.pause();
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, handshakeTimeout: 15_000 });
  ws.on("unexpected-response", (_request, response) => {
    let body = "";
    response.setEncoding("utf8");
    response.on("data", (chunk: string) => (body += chunk.slice(0, 4096)));
    response.on("end", () => onRefused(response.statusCode, messageFromBody(body) ?? `HTTP ${response.statusCode ?? "?"}`));
    socket.destroy();
  });
  ws.on("error", (error) => {
    onRefused(undefined, error.message);
    socket.destroy();
  });
  ws.on("open", () => {
    socket.on("data", (data: Buffer) => ws.send(data, { binary: true }));
    socket.on("close", () => ws.close());
    socket.resume();
  });
  ws.on("message", (data: Buffer | ArrayBuffer | Buffer[]) => socket.write(Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)));
  ws.on("close", () => socket.end());
}

/**
 * Checks that the deployment exists and runs (the user's errors are told now, not at the first
 * connection), then listens on 127.0.0.1:hostPort (0: a free one).
 */
export async function startCloudPortForward(home: HeyoHome, id: string, port: number, hostPort: number, onRefused: TunnelRefusal): Promise<RunningRelay> {
  const client = cloudClientFor(home);
  const deployment = await client.getDeployment(id);
  if (deployment.status !== "running") {
    throw new ConflictError(`${id} is ${deployment.status}`, `start it first: heyvm start ${id}`);
  }
  const url = client.portTunnelUrl(id, port);
  const token = client.target.token;
  return listenOnLoopback(createServer((socket) => carryConnection(socket, url, token, onRefused)), hostPort);
}
