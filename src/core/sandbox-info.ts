// A sandbox as heyvm shows it to scripts: one object, snake_case, the same in `list`, `get`,
// `create` and `wt --format json` (heyvm's scripting dialect).
import { loadBackend } from "../backends/registry.js";
import { canReachPorts } from "../backends/types.js";
import type { SandboxStatus } from "../state/status.js";
import type { SandboxView } from "./catalog.js";
import { sandboxLimits } from "../backends/sandbox-limits.js";
import { limitsField } from "../backends/machine-record.js";

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

/** Where each exposed guest port is reached on the host while it runs, as its backend says. */
async function portMappings(view: SandboxView): Promise<PortMapping[]> {
  const { owner } = view;
  if (!owner || view.spec.ports.length === 0) return []; // the backend is loaded only when needed
  const backend = await loadBackend(view.spec.backend);
  if (!canReachPorts(backend)) return [];
  const access = { dir: view.dir, spec: view.spec, owner };
  return view.spec.ports.flatMap((guest) => {
    const endpoint = backend.portEndpoint(access, guest);
    return endpoint ? [{ host_port: endpoint.port, guest_port: guest }] : [];
  });
}

/** The sandbox as data; port mappings need its backend, so they come only from sandboxInfo. */
export function sandboxInfoWithPorts(view: SandboxView, ports: PortMapping[]): SandboxInfo {
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
    port_mappings: ports,
  };
}

export async function sandboxInfo(view: SandboxView): Promise<SandboxInfo> {
  return sandboxInfoWithPorts(view, await portMappings(view));
}

/** A bubblewrap sandbox's bounds as `get` shows them: what applies, and while it runs what was set and what could not be. */
export interface LimitsInfo {
  pids: number;
  memory_mib: number;
  cpus: number;
  /** null for a VM sandbox: its /tmp and home are on its own disk. */
  tmp_mib: number | null;
  home_mib: number | null;
  set: string[] | null;
  not_set: string[] | null;
}

/**
 * A bubblewrap sandbox's bounds; a running VM sandbox's are those of its host-side processes
 * (backends/vm-host-limits.ts: QEMU, virtiofsd, passt, the sftp-server), null while it is stopped
 * (its --cpus/--memory size the machine itself).
 */
export function limitsInfo(view: SandboxView): LimitsInfo | null {
  const applied = view.owner ? limitsField(view.owner.machine) : null;
  if (view.spec.backend !== "bubblewrap") {
    const { pids, memoryMiB, cpus } = applied?.values ?? {};
    if (pids === undefined || memoryMiB === undefined || cpus === undefined) return null;
    return { pids, memory_mib: memoryMiB, cpus, tmp_mib: null, home_mib: null, set: applied?.set ?? null, not_set: applied?.notSet ?? null };
  }
  // while it runs, what its owner applied; stopped, what its next start would
  const limits = { ...sandboxLimits(view.spec), ...applied?.values };
  return { pids: limits.pids, memory_mib: limits.memoryMiB, cpus: limits.cpus, tmp_mib: limits.tmpMiB, home_mib: limits.homeMiB, set: applied?.set ?? null, not_set: applied?.notSet ?? null };
}
