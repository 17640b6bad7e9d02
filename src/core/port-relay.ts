// A guest port of a running local sandbox relayed to a port of the host's 127.0.0.1, for `bind`
// and `port-forward`, on every backend and while the sandbox runs (pasta and passt take their
// forwards only at boot). Each connection is carried by a connector run inside the sandbox
// through its exec recipe (nsenter, ssh…): bash's /dev/tcp to 127.0.0.1:<port> there, its stdio
// piped to the host's socket. A port the backend already forwarded at boot is reached directly.
// What comes back is bytes for the client that connected; heyvm neither reads nor shows them.
import { spawn } from "node:child_process";
import { connect, createServer, type Server, type Socket } from "node:net";
import { loadBackend } from "../backends/registry.js";
import { canReachPorts, type HostEndpoint } from "../backends/types.js";
import { ConflictError, isErrnoError } from "../shared/errors.js";
import { processStatus } from "../state/status.js";
import { execCommandFor } from "./attach.js";
import type { SandboxEntry } from "./catalog.js";

/** Inside the sandbox: connect to the port on its own loopback and carry stdio both ways. */
const CONNECTOR = 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 111; cat <&3 & cat >&3; wait';

/** Where the backend forwarded the port at boot, if it did. */
export async function bootForward(entry: SandboxEntry, guestPort: number): Promise<HostEndpoint | undefined> {
  const owner = processStatus(entry.dir).owner;
  if (!owner || !entry.spec.ports.includes(guestPort)) return undefined;
  const backend = await loadBackend(entry.spec.backend);
  return canReachPorts(backend) ? backend.portEndpoint({ dir: entry.dir, spec: entry.spec, owner }, guestPort) : undefined;
}

/** A connection to the guest port: a socket to its boot forward, or a connector's stdio inside the sandbox. */
export async function openGuestStream(entry: SandboxEntry, guestPort: number): Promise<{ write(data: Buffer): void; end(): void; close(): void; onData(f: (data: Buffer) => void): void; onEnd(f: () => void): void }> {
  const direct = await bootForward(entry, guestPort);
  if (direct) {
    const socket = connect(direct.port, direct.host);
    socket.on("error", () => socket.destroy());
    return { write: (d) => socket.write(d), end: () => socket.end(), close: () => socket.destroy(), onData: (f) => socket.on("data", f), onEnd: (f) => socket.on("close", f) };
  }
  const command = await execCommandFor(entry, ["bash", "-c", CONNECTOR, "heyvm-connect", String(guestPort)], { tty: false });
  // its own process group: closing ends the whole connector (the transport may fork: nsenter into a pid namespace does)
  const child = spawn(command.file, command.args, { env: command.env ?? process.env, stdio: ["pipe", "pipe", "ignore"], detached: true });
  child.on("error", () => undefined);
  child.stdin.on("error", () => undefined);
  return {
    write: (d) => child.stdin.write(d),
    end: () => child.stdin.end(),
    close: () => {
      child.stdin.destroy();
      child.stdout.destroy();
      try {
        if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, "SIGTERM");
      } catch {
        child.kill("SIGTERM"); // the group is gone already
      }
    },
    onData: (f) => child.stdout.on("data", f),
    onEnd: (f) => child.on("close", f),
  };
}

function relayConnection(entry: SandboxEntry, guestPort: number, socket: Socket): void {
  socket.on("error", () => socket.destroy());
  socket.pause();
  openGuestStream(entry, guestPort)
    .then((guest) => {
      guest.onData((data) => socket.write(data));
      guest.onEnd(() => socket.end());
      socket.on("data", (data) => guest.write(data));
      socket.on("end", () => guest.end());
      socket.on("close", () => guest.close());
      socket.resume();
    })
    .catch(() => socket.destroy());
}

export interface RunningRelay {
  hostPort: number;
  server: Server;
}

/** Listens on 127.0.0.1:hostPort (0: a free one) and relays each connection to the guest port. */
export function startRelay(entry: SandboxEntry, guestPort: number, hostPort: number): Promise<RunningRelay> {
  return listenOnLoopback(createServer((socket) => relayConnection(entry, guestPort, socket)), hostPort);
}

/** Starts server on 127.0.0.1:hostPort (0: a free one); a port in use is a ConflictError naming -p. */
export async function listenOnLoopback(server: Server, hostPort: number): Promise<RunningRelay> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => {
      if (isErrnoError(error) && error.code === "EADDRINUSE") reject(new ConflictError(`port ${hostPort} of 127.0.0.1 is in use`, "choose another with -p, or leave -p out for a free one"));
      else reject(error);
    });
    server.listen(hostPort, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  return { hostPort: typeof address === "object" && address ? address.port : hostPort, server };
}

/** Resolves once the sandbox's owner is gone (polled: the relay ends with the sandbox) or the signal aborts. */
export function whileRunning(entry: SandboxEntry, signal: AbortSignal, pollMs = 300): Promise<"stopped" | "aborted"> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (processStatus(entry.dir).status === "stopped") finish("stopped");
    }, pollMs);
    const finish = (why: "stopped" | "aborted") => {
      clearInterval(timer);
      signal.removeEventListener("abort", onAbort);
      resolve(why);
    };
    const onAbort = () => finish("aborted");
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
