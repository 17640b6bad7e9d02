// Server side of the shell stream (ARCHITECTURE.md §5): one pty per session (node-pty), output numbered
// and kept until the client acknowledges it, so a client that reconnects with its sessionId gets
// everything it missed. A session whose client is gone waits graceMs for it, then ends.
// Output has backpressure: while the socket holds more than SEND_HIGH_WATER bytes the client has
// not taken, the pty is not read (the program in the sandbox blocks on its writes); it is read
// again once the socket drains, and a client that takes nothing for stallMs is disconnected. A
// detached session's pty is read until its replay buffer is full, then paused until a client is back.
import { errorMessage } from "../../shared/errors.js";
import { randomBytes } from "node:crypto";
import type { IPty } from "node-pty";
import type WebSocket from "ws";
import { ShellClientMessage, type ShellServerMessage } from "../../cloud/schema.js";
import { decodeFrame, stdoutFrame } from "../../cloud/shell-frames.js";
import type { SpawnSpec } from "../../backends/types.js";
import type { LogLine } from "../context.js";

export interface ShellTarget {
  tokenId: string;
  deploymentId: string;
  /** The command of a login shell in the sandbox, for these options. */
  command(options: { cwd?: string; env: Record<string, string> }): Promise<SpawnSpec>;
}

interface Session {
  id: string;
  tokenId: string;
  deploymentId: string;
  pty: IPty;
  /** Output not yet acknowledged, oldest first. */
  unacked: Array<{ seq: number; data: Buffer }>;
  unackedBytes: number;
  seq: number;
  exitCode: number | null;
  socket: WebSocket | null;
  grace: NodeJS.Timeout | undefined;
  /** The pty is not read while the client's socket holds too much (see the file comment). */
  paused: boolean;
  stall: NodeJS.Timeout | undefined;
  /** Gives back the session's place under the caps (limits.ts) once it ends. */
  release: () => void;
}

/** Bytes the socket may hold unsent before the pty is paused, and below which it is read again. */
const SEND_HIGH_WATER = 256 * 1024;
const SEND_LOW_WATER = 64 * 1024;

/** Keeps at most this much unacknowledged output per session; older output is dropped. */
const MAX_UNACKED_BYTES = 1024 * 1024;

function send(socket: WebSocket | null, message: ShellServerMessage): void {
  if (socket && socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
}

export class ShellSessions {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly graceMs: number,
    private readonly log: LogLine,
    /** How long a client may take none of its output before it is disconnected. */
    private readonly stallMs = 60_000,
  ) {}

  /**
   * Serves one WebSocket: waits for init, then attaches it to a new or an existing session. release
   * gives back the place the connection took under the caps: a new session keeps it until it ends.
   */
  serve(socket: WebSocket, target: ShellTarget, release: () => void): void {
    // a bad frame (too large, not UTF-8) is an error event: without a listener it would end the server
    socket.on("error", () => socket.terminate());
    let kept = false; // by a new session
    socket.once("close", () => {
      if (!kept) release();
    });
    const initTimer = setTimeout(() => {
      send(socket, { type: "error", code: "no_init", message: "no init message within 10 s" });
      socket.close(1008);
    }, 10_000);
    socket.once("message", (data: Buffer, isBinary: boolean) => {
      clearTimeout(initTimer);
      const parsed = isBinary ? undefined : ShellClientMessage.safeParse(safeJson(data.toString("utf8")));
      if (!parsed?.success || parsed.data.type !== "init") {
        send(socket, { type: "error", code: "bad_init", message: "the first message must be {type:\"init\", cols, rows}" });
        socket.close(1008);
        return;
      }
      const init = parsed.data;
      if (init.sessionId) {
        const session = this.sessions.get(init.sessionId);
        if (!session || session.tokenId !== target.tokenId || session.deploymentId !== target.deploymentId) {
          send(socket, { type: "error", code: "session_not_found", message: `shell session ${init.sessionId} no longer exists` });
          socket.close(1008);
          return;
        }
        release(); // the session it joins holds a place already
        this.attach(session, socket);
        return;
      }
      const env = { TERM: "xterm-256color", ...init.env };
      target
        .command({ cwd: init.cwd, env })
        .then(async (command) => {
          const { spawn } = await import("node-pty");
          const pty = spawn(command.file, command.args, {
            name: env.TERM,
            cols: init.cols,
            rows: init.rows,
            cwd: "/",
            env: { ...(command.env ?? {}), TERM: env.TERM },
            encoding: null,
          });
          const session: Session = {
            id: `sh-${randomBytes(8).toString("hex")}`,
            tokenId: target.tokenId,
            deploymentId: target.deploymentId,
            pty,
            unacked: [],
            unackedBytes: 0,
            seq: 0,
            exitCode: null,
            socket: null,
            grace: undefined,
            paused: false,
            stall: undefined,
            release,
          };
          kept = true;
          this.sessions.set(session.id, session);
          this.log(`shell ${session.id} opened in ${target.deploymentId}`);
          pty.onData((chunk: string | Buffer) => this.output(session, Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk)));
          pty.onExit(({ exitCode, signal }) => this.exited(session, signal ? 128 + signal : exitCode));
          this.attach(session, socket);
        })
        .catch((error: unknown) => {
          send(socket, { type: "error", code: "not_running", message: errorMessage(error) });
          socket.close(1011);
        });
    });
  }

  private attach(session: Session, socket: WebSocket): void {
    clearTimeout(session.grace);
    session.grace = undefined;
    if (session.socket && session.socket !== socket) session.socket.close(4000, "replaced by a newer connection");
    session.socket = socket;
    send(socket, { type: "ready", sessionId: session.id });
    for (const item of session.unacked) this.sendOutput(session, socket, stdoutFrame(item.seq, item.data));
    if (socket.bufferedAmount < SEND_HIGH_WATER) this.resume(session); // paused while detached; else once the replay drains
    if (session.exitCode !== null) {
      this.finish(session);
      return;
    }
    socket.on("message", (data: Buffer, isBinary: boolean) => {
      if (session.socket !== socket) return;
      if (isBinary) {
        const frame = decodeFrame(data);
        if (frame.kind === "stdin" && session.exitCode === null) session.pty.write(frame.data);
        return;
      }
      const parsed = ShellClientMessage.safeParse(safeJson(data.toString("utf8")));
      if (!parsed.success) return;
      const message = parsed.data;
      if (message.type === "resize") {
        if (session.exitCode === null) session.pty.resize(message.cols, message.rows);
      } else if (message.type === "ack") {
        while (session.unacked.length > 0 && (session.unacked[0]?.seq ?? Infinity) <= message.seq) {
          session.unackedBytes -= session.unacked.shift()?.data.length ?? 0;
        }
      } else if (message.type === "close") {
        this.end(session, "closed by the client");
      }
    });
    socket.on("close", () => {
      if (session.socket !== socket) return;
      session.socket = null;
      this.resume(session); // detached: output goes to the replay buffer until the client is back, or it is full
      if (!this.sessions.has(session.id)) return;
      session.grace = setTimeout(() => this.end(session, "the client did not come back"), this.graceMs);
    });
  }

  private output(session: Session, data: Buffer): void {
    session.seq += 1;
    session.unacked.push({ seq: session.seq, data });
    session.unackedBytes += data.length;
    if (!session.socket && session.unackedBytes >= MAX_UNACKED_BYTES && !session.paused && session.exitCode === null) {
      // detached with its replay buffer full: the program waits for its client (as for a slow one)
      // rather than the server reading and dropping its output until the grace ends
      session.paused = true;
      session.pty.pause();
    }
    while (session.unackedBytes > MAX_UNACKED_BYTES && session.unacked.length > 1) {
      session.unackedBytes -= session.unacked.shift()?.data.length ?? 0;
    }
    const socket = session.socket;
    if (socket && socket.readyState === socket.OPEN) this.sendOutput(session, socket, stdoutFrame(session.seq, data));
  }

  /** Sends a frame of output, pausing the pty while the socket holds more than the client takes. */
  private sendOutput(session: Session, socket: WebSocket, frame: Buffer): void {
    socket.send(frame, () => {
      if (session.paused && session.socket === socket && socket.bufferedAmount < SEND_LOW_WATER) this.resume(session);
    });
    if (socket.bufferedAmount > SEND_HIGH_WATER && !session.paused && session.exitCode === null) {
      session.paused = true;
      session.pty.pause();
      session.stall = setTimeout(() => {
        this.log(`shell ${session.id} in ${session.deploymentId}: its client took no output for ${this.stallMs / 1000} s, disconnected`);
        socket.terminate(); // its session waits graceMs for a client that reads, as for any lost connection
      }, this.stallMs);
    }
  }

  private resume(session: Session): void {
    clearTimeout(session.stall);
    session.stall = undefined;
    if (!session.paused) return;
    session.paused = false;
    if (session.exitCode === null) session.pty.resume();
  }

  private exited(session: Session, code: number): void {
    session.exitCode = code;
    this.log(`shell ${session.id} in ${session.deploymentId} exited with ${code}`);
    // let the last output through before telling the client
    setTimeout(() => {
      if (session.socket) this.finish(session);
      else if (!session.grace) session.grace = setTimeout(() => this.end(session, "exited"), this.graceMs);
    }, 50);
  }

  private finish(session: Session): void {
    send(session.socket, { type: "exit", code: session.exitCode ?? 0 });
    session.socket?.close(1000);
    this.sessions.delete(session.id);
    clearTimeout(session.grace);
    clearTimeout(session.stall);
    session.release();
  }

  private end(session: Session, why: string): void {
    if (!this.sessions.delete(session.id)) return;
    clearTimeout(session.grace);
    clearTimeout(session.stall);
    session.release();
    if (session.exitCode === null) {
      try {
        session.pty.kill("SIGHUP");
      } catch {
        // already gone
      }
      this.log(`shell ${session.id} in ${session.deploymentId} ended: ${why}`);
    }
    send(session.socket, { type: "exit", code: session.exitCode ?? 129 });
    session.socket?.close(1000);
  }

  /** Ends every session of a deployment (it stopped or was deleted). */
  endFor(deploymentId: string): void {
    for (const session of [...this.sessions.values()]) if (session.deploymentId === deploymentId) this.end(session, "the sandbox stopped");
  }

  /** Ends every session of a token (it was revoked). */
  endForToken(tokenId: string): void {
    for (const session of [...this.sessions.values()]) if (session.tokenId === tokenId) this.end(session, "its API token was revoked");
  }

  endAll(): void {
    for (const session of [...this.sessions.values()]) this.end(session, "the server is shutting down");
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
