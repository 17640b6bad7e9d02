// Finds backends by name and picks the default for this host. Backend modules are imported only
// when used, so commands such as `heyvm list` do not pay for code they never run.
import { platform } from "node:os";
import { BACKEND_NAMES, isBackendName, type BackendName } from "../shared/backend-name.js";
import { UnavailableError, UserError } from "../shared/errors.js";
import { isRunnable, type Availability, type Backend, type KnownBackend } from "./types.js";

const loaders: Record<BackendName, () => Promise<KnownBackend>> = {
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

/** Any backend by name, runnable or not yet: for probing this host (the cloud's driver list). */
export function detectBackend(name: BackendName): Promise<KnownBackend> {
  return loaders[name]();
}

/** A backend heyvm can drive, without probing the host; one it cannot drive yet is refused with its reason. */
export async function loadBackend(name: BackendName): Promise<Backend> {
  return runnable(await detectBackend(name));
}

function runnable(backend: KnownBackend): Backend {
  if (!isRunnable(backend)) throw new UnavailableError(backend.cannotRun.reason, backend.cannotRun.hint);
  return backend;
}

/** The order in which backends are tried when none is named (ARCHITECTURE.md §4). */
export function defaultOrder(os: NodeJS.Platform = platform()): BackendName[] {
  return os === "darwin" ? ["apple_virt"] : ["firecracker", "libvirt", "bubblewrap"];
}

/** Loads a named backend and fails with what is missing if this host cannot run it. */
export async function usableBackend(name: BackendName): Promise<Backend> {
  const backend = await detectBackend(name);
  const availability = await backend.probe();
  if (!availability.usable) {
    throw new UnavailableError(`the ${name} backend is not usable here: ${availability.reason}`, availability.hint);
  }
  return runnable(backend);
}

/** Why the default choice passes a backend over; undefined when it can take it. */
function passedOver(backend: KnownBackend, availability: Availability): string | undefined {
  if (!availability.usable) return availability.reason;
  return availability.degraded ?? (isRunnable(backend) ? undefined : backend.cannotRun.reason);
}

/** The first backend in the default order whose requirements are all met. */
export async function chooseDefaultBackend(os: NodeJS.Platform = platform()): Promise<Backend> {
  const reasons: string[] = [];
  for (const name of defaultOrder(os)) {
    const backend = await detectBackend(name);
    const reason = passedOver(backend, await backend.probe());
    if (reason === undefined) return runnable(backend);
    reasons.push(`${name}: ${reason}`);
  }
  throw new UnavailableError(
    `no sandbox backend is usable on this host (${reasons.join("; ")})`,
    os === "linux" ? "install bubblewrap (e.g. `apt-get install bubblewrap`) or name a backend with --backend" : "install vfkit, or name a backend with --backend",
  );
}
