// The WebSocket routes: a deployment's shell stream — the caller's token checked first (401
// before 404), a place under the shell caps taken, and the socket handed to the shell sessions
// once the sandbox is found running — and a port's tunnel (port-tunnel.ts, after the same token
// check); a refused upgrade gets a plain HTTP answer.
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { workspaceShellCommand } from "../../core/workspace-sandbox.js";
import type { DeploymentServices } from "../context.js";
import { runningSandbox } from "../deployments/exec.js";
import { ConcurrencyCap } from "../deployments/limits.js";
import type { ShellSessions } from "../deployments/shell.js";
import { parseRequestUrl, toReply, type TokenOf } from "./dispatch.js";
import { HttpError } from "./messages.js";
import { TUNNEL_PATH, serveTunnel } from "./port-tunnel.js";
import { SHELL_SESSION_PARAM, checkShellSession } from "../deployments/shell-session.js";

const SHELL_PATH = /^\/deployed-sandboxes\/([^/]+)\/shell-stream$/;

export interface ShellUpgrades {
  /** Cuts every open WebSocket (the sessions themselves are ended by ShellSessions.endAll). */
  terminateAll(): void;
}

/** The caller's token: a shell-session token for this very stream (shell-session.ts) in the query, else the Authorization header. */
function streamTokenOf(services: DeploymentServices, secret: Buffer, tokenOf: TokenOf, req: IncomingMessage, url: URL, encodedId: string | undefined): string {
  const session = url.searchParams.get(SHELL_SESSION_PARAM);
  if (session === null || encodedId === undefined) return tokenOf(req);
  let tokenId: string | undefined;
  try {
    tokenId = checkShellSession(secret, session, decodeURIComponent(encodedId));
  } catch {
    tokenId = undefined;
  }
  if (!tokenId || !services.store.isTokenLive(tokenId)) throw new HttpError(401, "the shell session token is not valid (or expired): ask for a new one", "unauthenticated");
  return tokenId;
}

export function wireShellUpgrades(server: Server, services: DeploymentServices, shells: ShellSessions, tokenOf: TokenOf, secret: Buffer): ShellUpgrades {
  const { log, config } = services;
  const shellCap = new ConcurrencyCap("shell sessions", config.maxShellsPerToken, config.maxShells);
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // node hands the socket over without an error listener: a client's reset would end the server
    socket.on("error", () => socket.destroy());
    const remote = req.socket?.remoteAddress ?? "-";
    const url = parseRequestUrl(req.url) ?? new URL("http://server/invalid");
    const started = performance.now();
    const refuse = (error: unknown) => {
      const reply = toReply(error, log);
      const status = "status" in reply ? reply.status : 500;
      const body = "json" in reply ? JSON.stringify(reply.json) : "";
      if (socket.writable) socket.end(`HTTP/1.1 ${status} Refused\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      else socket.destroy();
      log(`${remote} GET ${url.pathname} (websocket) ${status} ${Math.round(performance.now() - started)}ms`);
    };
    const match = SHELL_PATH.exec(url.pathname);
    let tokenId: string;
    try {
      tokenId = streamTokenOf(services, secret, tokenOf, req, url, match?.[1]); // as for requests: 401 before 404
    } catch (error) {
      return refuse(error);
    }
    const tunnel = TUNNEL_PATH.exec(url.pathname);
    if (tunnel) {
      const served = () => log(`${remote} GET ${url.pathname} (websocket) 101 ${Math.round(performance.now() - started)}ms ${tokenId}`);
      return serveTunnel({ services, wss, req, socket, head, tokenId, match: tunnel, refuse, served });
    }
    if (!match) return refuse(new HttpError(404, `no websocket route ${url.pathname}`, "not_found"));
    let deploymentId: string;
    try {
      deploymentId = decodeURIComponent(match[1] ?? "");
    } catch {
      return refuse(new HttpError(400, "the sandbox id in the path is not valid", "bad_request"));
    }
    let release: () => void;
    try {
      release = shellCap.take(tokenId);
    } catch (error) {
      return refuse(error);
    }
    let served = false; // from then on the shell session gives the place back
    socket.once("close", () => {
      if (!served) release();
    });
    runningSandbox(services, tokenId, deploymentId)
      .then(({ entry }) => {
        if (socket.destroyed) return release(); // the client left while the sandbox was looked up
        wss.handleUpgrade(req, socket, head, (ws) => {
          served = true;
          log(`${remote} GET ${url.pathname} (websocket) 101 ${Math.round(performance.now() - started)}ms ${tokenId}`);
          shells.serve(ws, { tokenId, deploymentId, command: (options) => workspaceShellCommand(entry, { tty: true, cwd: options.cwd, env: options.env }) }, release);
        });
      })
      .catch((error: unknown) => {
        release();
        refuse(error);
      });
  });
  return {
    terminateAll() {
      for (const client of wss.clients) client.terminate();
    },
  };
}
