// Which drivers and images this server offers: a driver is a heyvm backend that is usable on
// this host; an image name is mapped through the catalog to what the host has.
import { BACKEND_NAMES, isBackendName, type BackendName } from "../shared/backend-name.js";
import type { ImageCatalog } from "./config.js";
import { HttpError } from "./http/messages.js";

export interface Probe {
  usable: boolean;
  reason?: string;
}

export type ProbeBackend = (name: BackendName) => Promise<Probe>;

export interface ResolvedImage {
  backend: BackendName;
  /** The backend's image name on this host; null = its default (host system for bubblewrap). */
  image: string | null;
}

/** Caches probes briefly: creating sandboxes should not re-check KVM and daemons every time. */
export class DriverCatalog {
  private readonly cache = new Map<BackendName, { at: number; probe: Probe }>();

  constructor(
    private readonly images: ImageCatalog,
    private readonly probeBackend: ProbeBackend,
  ) {}

  private async probe(name: BackendName): Promise<Probe> {
    const cached = this.cache.get(name);
    if (cached && Date.now() - cached.at < 30_000) return cached.probe;
    const probe = await this.probeBackend(name);
    this.cache.set(name, { at: Date.now(), probe });
    return probe;
  }

  /** Every driver this server knows: whether it is usable here (and why not) and the image names it offers. */
  async offers(): Promise<Array<{ name: BackendName; usable: boolean; reason: string | null; images: string[] }>> {
    return Promise.all(
      BACKEND_NAMES.map(async (name) => {
        const probe = await this.probe(name);
        return { name, usable: probe.usable, reason: probe.usable ? null : (probe.reason ?? "unavailable"), images: Object.keys(this.images[name] ?? {}) };
      }),
    );
  }

  /** 422 with what is available when the driver or the image is not offered here. */
  async resolve(driver: string, image: string): Promise<ResolvedImage> {
    const normalized = driver.trim().toLowerCase().replace(/-/g, "_");
    const backend = normalized === "bwrap" ? "bubblewrap" : normalized;
    if (!isBackendName(backend)) throw new HttpError(422, `unknown driver "${driver}"; this server knows ${BACKEND_NAMES.join(", ")}`, "unknown_driver");
    const probe = await this.probe(backend);
    if (!probe.usable) throw new HttpError(422, `driver "${backend}" is not usable on this server: ${probe.reason ?? "unavailable"}`, "driver_unavailable");
    const offered = this.images[backend] ?? {};
    if (!Object.hasOwn(offered, image)) {
      const names = Object.keys(offered);
      throw new HttpError(422, `image "${image}" is not available for driver ${backend}; available: ${names.length ? names.join(", ") : "none"}`, "unknown_image");
    }
    return { backend, image: offered[image] ?? null };
  }
}
