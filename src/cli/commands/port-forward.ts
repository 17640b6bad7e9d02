// `heyvm port-forward <id> <port> [-p HOSTPORT]`: relay a local sandbox's port to 127.0.0.1 for
// as long as this command runs (Ctrl-C ends it) or the sandbox does. A cloud sandbox's (dep-…) port
// is carried through the server's tunnel route, one WebSocket per connection, until Ctrl-C.
import { ConflictError } from "../../shared/errors.js";
import { heyoHome } from "../../state/home.js";
import { defineCommand } from "../command.js";
import { print, type CliIO } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";
import { idAndPortArguments, parsePortNumber } from "./bind.js";

export const portForwardCommand = defineCommand<FormatFlags & { port?: string }>({
  name: "port-forward",
  description: "relay a sandbox port to 127.0.0.1 while this command runs (a free port unless -p)",
  arguments: idAndPortArguments(true),
  options: [{ flags: "-p, --port <hostport>", description: "the port of 127.0.0.1 to listen on (default: a free one)" }, ...FORMAT_OPTIONS],
  helpAfter: "\nIt prints where it listens (one JSON line under --format json: {port, host_port, url}), then relays until Ctrl-C or the sandbox stops.\nFor a dep-… id each connection goes through the cloud server's tunnel (raw TCP, any protocol).",
  async run({ io, args: [id, portText], flags }) {
    const port = parsePortNumber(String(portText), "port-forward");
    const hostPort = flags.port === undefined ? 0 : parsePortNumber(flags.port, "-p");
    const query = String(id);
    const { targetKind } = await import("../../core/targets/kind.js");
    if (targetKind(query) === "cloud") return forwardCloudPort(io, query, port, hostPort, flags);
    const [{ resolveSandbox }, { startRelay, whileRunning }, { processStatus }] = await Promise.all([
      import("../../core/catalog.js"),
      import("../../core/port-relay.js"),
      import("../../state/status.js"),
    ]);
    const entry = resolveSandbox(heyoHome(), query);
    if (processStatus(entry.dir).status === "stopped") throw new ConflictError(`sandbox ${entry.spec.id} is not running`, `start it first: heyvm start ${entry.spec.id}`);
    const relay = await startRelay(entry, port, hostPort);
    const url = `http://127.0.0.1:${relay.hostPort}`;
    if (wantsJson(flags)) io.stdout.write(`${JSON.stringify({ port, host_port: relay.hostPort, url })}\n`);
    else print(io, `forwarding ${url} -> port ${port} of ${entry.spec.id} (Ctrl-C to stop)`);
    const why = await whileRunning(entry, abortOnSignals());
    relay.server.close();
    if (why === "stopped") {
      io.stderr.write(`heyvm: ${entry.spec.id} stopped; port-forward ended\n`);
      return 1;
    }
    return 0;
  },
});

/** Aborted by Ctrl-C or SIGTERM. */
function abortOnSignals(): AbortSignal {
  const aborter = new AbortController();
  const stop = () => aborter.abort();
  process.on("SIGINT", stop); // on, not once: signal-exit (proper-lockfile's) re-raises a signal it finds no other listener for
  process.on("SIGTERM", stop);
  return aborter.signal;
}

/** The cloud form: listens here, each connection tunnelled to the deployment's port; ends (exit 0) on Ctrl-C. */
async function forwardCloudPort(io: CliIO, id: string, port: number, hostPort: number, flags: FormatFlags): Promise<number> {
  const { startCloudPortForward } = await import("../../core/cloud-port-forward.js");
  const { escapeControls } = await import("../../shared/terminal-text.js");
  const relay = await startCloudPortForward(heyoHome(), id, port, hostPort, (status, message) => {
    io.stderr.write(`heyvm: a connection to port ${port} of ${id} was refused${status ? ` (HTTP ${status})` : ""}: ${escapeControls(message)}\n`);
  });
  const url = `http://127.0.0.1:${relay.hostPort}`;
  if (wantsJson(flags)) io.stdout.write(`${JSON.stringify({ port, host_port: relay.hostPort, url })}\n`);
  else print(io, `forwarding ${url} -> port ${port} of ${id} (Ctrl-C to stop)`);
  const signal = abortOnSignals();
  await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
  relay.server.close();
  return 0;
}
