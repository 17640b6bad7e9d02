// A sandbox as heyvm shows it to scripts: one object, snake_case, the same in `list`, `get`,
// `create` and `wt --format json` (heyvm's scripting dialect).
import type { SandboxStatus } from "../state/status.js";
import type { SandboxView } from "./catalog.js";

export interface PortMapping {
  host_port: number;
  guest_port: number;
}

export interface SandboxInfo {
  id: string;
  name: string;
  status: SandboxStatus;
  /** The same as status: the name earlier heyvm versions printed. */
  state: SandboxStatus;
  backend: string;
  image: string | null;
  branch: string | null;
  worktree: string;
  guest_ip: string | null;
  /** user@host:port of the sandbox's SSH server (VM backends), while it runs. */
  ssh: string | null;
  pid: number | null;
  created_at: string;
  started_at: string | null;
  /** Why the last owner ended, while stopped. */
  last_exit: string | null;
  port_mappings: PortMapping[];
}

/** Where each exposed guest port is reached on the host, as the owner recorded it. */
function portMappings(view: SandboxView): PortMapping[] {
  if (!view.owner) return [];
  const forwards = view.owner.machine.forwards;
  const recorded = typeof forwards === "object" && forwards !== null && !Array.isArray(forwards) ? forwards : {};
  return view.spec.ports.map((guest) => {
    const host = recorded[String(guest)];
    return { host_port: typeof host === "number" ? host : guest, guest_port: guest };
  });
}

export function sandboxInfo(view: SandboxView): SandboxInfo {
  const { spec, owner } = view;
  return {
    id: spec.id,
    name: spec.name,
    status: view.status,
    state: view.status,
    backend: spec.backend,
    image: spec.image,
    branch: spec.git?.branch ?? null,
    worktree: spec.workspace,
    guest_ip: owner?.guestIp ?? null,
    ssh: owner?.ssh ? `${owner.ssh.user}@${owner.ssh.host}:${owner.ssh.port}` : null,
    pid: owner?.pid ?? null,
    created_at: spec.createdAt,
    started_at: owner?.startedAt ?? null,
    last_exit: view.lastExit?.reason ?? null,
    port_mappings: portMappings(view),
  };
}
