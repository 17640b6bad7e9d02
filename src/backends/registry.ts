// Finds backends by name and picks the default for this host. Backend modules are imported only
// when used, so commands such as `heyvm list` do not pay for code they never run.
import { platform } from "node:os";
import { BACKEND_NAMES, isBackendName, type BackendName } from "../shared/backend-name.js";
import { UnavailableError, UserError } from "../shared/errors.js";
import type { Backend } from "./types.js";

const loaders: Record<BackendName, () => Promise<Backend>> = {
  bubblewrap: async () => (await import("./bubblewrap/backend.js")).bubblewrapBackend,
  libvirt: async () => (await import("./libvirt/backend.js")).libvirtBackend,
  firecracker: async () => (await import("./firecracker/backend.js")).firecrackerBackend,
  apple_virt: async () => (await import("./apple-virt/backend.js")).appleVirtBackend,
};

/** Accepts the spellings people type ("apple-virt", "bwrap") for a backend name. */
export function parseBackendName(input: string): BackendName {
  const normalized = input.trim().toLowerCase().replace(/-/g, "_");
  const alias = normalized === "bwrap" ? "bubblewrap" : normalized;
  if (isBackendName(alias)) return alias;
  throw new UserError(`unknown backend "${input}"`, { hint: `choose one of: ${BACKEND_NAMES.join(", ")}` });
}

export function loadBackend(name: BackendName): Promise<Backend> {
  return loaders[name]();
}

/** The order in which backends are tried when none is named (DESIGN §5). */
export function defaultOrder(os: NodeJS.Platform = platform()): BackendName[] {
  return os === "darwin" ? ["apple_virt"] : ["firecracker", "libvirt", "bubblewrap"];
}

/** Loads a named backend and fails with what is missing if this host cannot run it. */
export async function usableBackend(name: BackendName): Promise<Backend> {
  const backend = await loadBackend(name);
  const availability = await backend.probe();
  if (!availability.usable) {
    throw new UnavailableError(`the ${name} backend is not usable here: ${availability.reason}`, availability.hint);
  }
  return backend;
}

/** The first backend in the default order whose requirements are all met. */
export async function chooseDefaultBackend(os: NodeJS.Platform = platform()): Promise<Backend> {
  const reasons: string[] = [];
  for (const name of defaultOrder(os)) {
    const backend = await loadBackend(name);
    const availability = await backend.probe();
    if (availability.usable && availability.degraded === undefined) return backend;
    reasons.push(`${name}: ${availability.usable ? availability.degraded : availability.reason}`);
  }
  throw new UnavailableError(
    `no sandbox backend is usable on this host (${reasons.join("; ")})`,
    os === "linux" ? "install bubblewrap (e.g. `apt-get install bubblewrap`) or name a backend with --backend" : "install vfkit, or name a backend with --backend",
  );
}
