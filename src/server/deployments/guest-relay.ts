// A connection to a deployment's port that the backend did not forward at boot: the connector
// of core/port-relay.ts (bash's /dev/tcp run inside the sandbox through its exec recipe), one per
// connection, as a stream the proxy and the port-forward tunnel can use like a socket. Each one
// holds a process, so it takes a place under the port-relay caps (per token and in all; 429
// beyond), given back when the stream closes; closing it ends the process.
import { Duplex } from "node:stream";
import type { SandboxEntry } from "../../core/catalog.js";
import { openGuestStream } from "../../core/port-relay.js";
import { workspacePortEndpoint } from "../../core/workspace-sandbox.js";
import type { DeploymentServices } from "../context.js";
import { HttpError } from "../http/messages.js";
import { ConcurrencyCap } from "./limits.js";

/** One cap per server (its services), shared by the proxy and the tunnel route. */
const relayCaps = new WeakMap<DeploymentServices, ConcurrencyCap>();

function relayCapOf(services: DeploymentServices): ConcurrencyCap {
  let cap = relayCaps.get(services);
  if (!cap) {
    cap = new ConcurrencyCap("port relays", services.config.maxRelaysPerToken, services.config.maxRelays);
    relayCaps.set(services, cap);
  }
  return cap;
}

/**
 * Opens a connection to port of a running deployment owned by tokenId: to the boot forward when
 * there is one (never this server's own address: 508), else through a connector inside the
 * sandbox. Either way the stream counts against tokenId's relays until it closes.
 */
export async function openDeploymentPort(services: DeploymentServices, tokenId: string, entry: SandboxEntry, deploymentId: string, port: number): Promise<Duplex> {
  const release = relayCapOf(services).take(tokenId);
  try {
    const forward = await workspacePortEndpoint(entry, port).catch(() => undefined);
    if (forward && services.hooks.isOwnAddress(forward.host, forward.port)) {
      throw new HttpError(508, `port ${port} of ${deploymentId} leads back to this server's own address; it is not proxied`, "proxy_loop");
    }
    const guest = await openGuestStream(entry, port);
    const stream = new Duplex({
      read() {
        // data is pushed as the guest sends it
      },
      write(chunk: Buffer, _encoding, done) {
        guest.write(chunk);
        done();
      },
      final(done) {
        guest.end();
        done();
      },
      destroy(error, done) {
        guest.close();
        release();
        done(error);
      },
    });
    guest.onData((data) => stream.push(data));
    guest.onEnd(() => {
      stream.push(null);
      stream.once("end", () => stream.destroy());
    });
    return stream;
  } catch (error) {
    release();
    throw error;
  }
}
