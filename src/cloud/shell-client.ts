// The client side of the shell stream (ARCHITECTURE.md §5): one interactive session that survives a
// dropped connection. It acknowledges output as it arrives, reconnects with its sessionId and
// drops replayed output it has already shown (by sequence number). Nothing here prints.
import WebSocket from "ws";
import { OperationFailedError, TimeoutError } from "../shared/errors.js";
import { cloudConnectionError, cloudHttpError } from "./errors.js";
import { ShellServerMessage, type ShellClientMessage } from "./schema.js";
import { decodeFrame, stdinFrame } from "./shell-frames.js";

export interface ShellOptions {
  url: string;
  token: string;
  cols: number;
  rows: number;
  env?: Record<string, string>;
  cwd?: string;
  /** How many times to reconnect after a dropped connection (default 5). */
  reconnectAttempts?: number;
  reconnectDelayMs?: number;
  /** Acknowledge output automatically (default true; tests turn it off to force a replay). */
  autoAck?: boolean;
}

export interface ShellEvents {
  output(data: Buffer): void;
  /** A dropped connection is being re-established (attempt counts from 1). */
  reconnecting?(attempt: number): void;
  reconnected?(): void;
}

type Phase = "connecting" | "open" | "down" | "done";

export class CloudShell {
  private ws: WebSocket | undefined;
  private phase: Phase = "connecting";
  private session: string | undefined;
  private lastSeq = 0;
  private ackTimer: NodeJS.Timeout | undefined;
  private readonly pending: Buffer[] = [];
  private size: { cols: number; rows: number };
  private settle!: { resolve: (code: number) => void; reject: (error: Error) => void };
  /** Resolves with the shell's exit code; rejects when the session cannot be kept. */
  readonly done: Promise<number>;

  constructor(private readonly options: ShellOptions, private readonly events: ShellEvents) {
    this.size = { cols: options.cols, rows: options.rows };
    this.done = new Promise<number>((resolve, reject) => (this.settle = { resolve, reject }));
    this.done.catch(() => undefined); // callers await it; no unhandled rejection meanwhile
  }

  get sessionId(): string | undefined {
    return this.session;
  }

  /** The highest output sequence number shown so far. */
  get seenSeq(): number {
    return this.lastSeq;
  }

  /** Opens the first connection; resolves once the server said ready. */
  async open(): Promise<void> {
    await this.connect();
  }

  private connect(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(this.options.url, { headers: { authorization: `Bearer ${this.options.token}` }, handshakeTimeout: 15_000 });
      this.ws = ws;
      let ready = false;
      ws.on("unexpected-response", (_request, response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (body += chunk));
        response.on("end", () => reject(cloudHttpError(response.statusCode ?? 0, body, "open the shell")));
        ws.terminate();
      });
      ws.on("open", () => {
        const init: ShellClientMessage = { type: "init", cols: this.size.cols, rows: this.size.rows, env: this.options.env, cwd: this.options.cwd, sessionId: this.session };
        ws.send(JSON.stringify(init));
      });
      ws.on("message", (data: Buffer, isBinary: boolean) => {
        if (isBinary) {
          this.onBinary(data);
          return;
        }
        const parsed = ShellServerMessage.safeParse(safeJson(data.toString("utf8")));
        if (!parsed.success) return;
        const message = parsed.data;
        if (message.type === "ready") {
          ready = true;
          this.session = message.sessionId;
          this.phase = "open";
          for (const chunk of this.pending.splice(0)) ws.send(stdinFrame(chunk));
          resolve();
        } else if (message.type === "exit") {
          this.finish(message.code);
        } else {
          const error = new OperationFailedError(`cloud shell: ${message.message}`);
          if (!ready) reject(error);
          else this.fail(error);
        }
      });
      ws.on("error", (error) => {
        if (!ready) reject(cloudConnectionError(this.options.url, error));
      });
      ws.on("close", () => {
        if (!ready) {
          reject(new OperationFailedError("the cloud closed the shell before it was ready"));
          return;
        }
        if (this.phase === "open") void this.reconnect();
      });
    });
  }

  private async reconnect(): Promise<void> {
    this.phase = "down";
    const attempts = this.options.reconnectAttempts ?? 5;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (this.phase !== "down") return;
      this.events.reconnecting?.(attempt);
      await new Promise((resolve) => setTimeout(resolve, (this.options.reconnectDelayMs ?? 500) * attempt));
      if (this.phase !== "down") return;
      try {
        await this.connect();
        this.events.reconnected?.();
        this.sendAck();
        return;
      } catch (error) {
        if (error instanceof OperationFailedError && /session/i.test(error.message)) {
          this.fail(error);
          return;
        }
      }
    }
    this.fail(new TimeoutError(`lost the connection to the cloud shell and could not reconnect after ${attempts} attempts`));
  }

  private onBinary(data: Buffer): void {
    const frame = decodeFrame(data);
    if (frame.kind !== "stdout") return;
    if (frame.seq <= this.lastSeq) return; // replayed output already shown
    this.lastSeq = frame.seq;
    this.events.output(frame.data);
    if (this.options.autoAck !== false && !this.ackTimer) {
      this.ackTimer = setTimeout(() => {
        this.ackTimer = undefined;
        this.sendAck();
      }, 20);
    }
  }

  private control(message: ShellClientMessage): void {
    if (this.phase === "open" && this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** Tells the server that everything up to the last sequence shown may be forgotten. */
  sendAck(): void {
    if (this.lastSeq > 0) this.control({ type: "ack", seq: this.lastSeq });
  }

  write(data: Buffer): void {
    if (this.phase === "done") return;
    if (this.phase === "open" && this.ws?.readyState === WebSocket.OPEN) this.ws.send(stdinFrame(data));
    else this.pending.push(data);
  }

  resize(cols: number, rows: number): void {
    this.size = { cols, rows };
    this.control({ type: "resize", cols, rows });
  }

  /** Ends the session on purpose (the server kills the shell). */
  close(): void {
    this.control({ type: "close" });
    this.finish(0);
  }

  /** Drops the connection without ending the session, as a network failure would. */
  dropConnection(): void {
    this.ws?.terminate();
  }

  private finish(code: number): void {
    if (this.phase === "done") return;
    this.phase = "done";
    clearTimeout(this.ackTimer);
    this.ws?.close();
    this.settle.resolve(code);
  }

  private fail(error: Error): void {
    if (this.phase === "done") return;
    this.phase = "done";
    clearTimeout(this.ackTimer);
    this.ws?.terminate();
    this.settle.reject(error);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
