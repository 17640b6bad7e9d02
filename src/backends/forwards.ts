// The guest ports a backend forwarded at boot, as owner.json records them (machine.forwards:
// guest port -> 127.0.0.1 port). Read in one place for every backend that forwards ports.
import { forwardsField } from "./machine-record.js";
import type { HostEndpoint, MachineAccess } from "./types.js";

/** The 127.0.0.1 endpoint recorded for guestPort at boot; undefined when none was. */
export function recordedForward(access: MachineAccess, guestPort: number): HostEndpoint | undefined {
  const port = forwardsField(access.owner.machine)[String(guestPort)];
  return port === undefined ? undefined : { host: "127.0.0.1", port };
}
