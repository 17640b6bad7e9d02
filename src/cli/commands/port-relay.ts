// `heyvm __port_relay <id> <port> <hostport>` (hidden): the process behind a local bind
// (core/port-binds.ts). It listens on 127.0.0.1:<hostport> (or a free port if that is taken),
// says where on its first line, relays until the sandbox stops, then clears its pid.
import { SandboxDir } from "../../state/sandbox-dir.js";
import { heyoHome } from "../../state/home.js";
import { readSpec } from "../../state/records.js";
import { NotFoundError } from "../../shared/errors.js";
import { defineCommand } from "../command.js";

export const portRelayCommand = defineCommand({
  name: "__port_relay",
  description: "relay a bound port of a sandbox while it runs (started by bind and by the sandbox's start)",
  hidden: true,
  arguments: [
    { name: "<id>", description: "sandbox id" },
    { name: "<port>", description: "guest port" },
    { name: "<hostport>", description: "port of 127.0.0.1" },
  ],
  async run({ io, args: [id, portText, hostText] }) {
    const [{ startRelay, whileRunning }, { relayEnded }] = await Promise.all([import("../../core/port-relay.js"), import("../../core/port-binds.js")]);
    const home = heyoHome();
    const dir = new SandboxDir(home, String(id));
    const spec = readSpec(dir);
    if (!spec) throw new NotFoundError(`no sandbox ${String(id)}`);
    const entry = { dir, spec };
    const port = Number(portText);
    const relay = await startRelay(entry, port, Number(hostText)).catch(() => startRelay(entry, port, 0));
    io.stdout.write(`listening ${relay.hostPort}\n`);
    process.on("SIGHUP", () => undefined);
    const aborter = new AbortController();
    process.on("SIGTERM", () => aborter.abort()); // on, not once (see port-forward.ts)
    process.on("SIGINT", () => aborter.abort());
    await whileRunning(entry, aborter.signal);
    relay.server.close();
    await relayEnded(home, entry, port, process.pid);
    process.exit(0);
  },
});
