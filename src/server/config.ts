// The cloud server's settings and its data folder layout. Everything it keeps lives under one
// data folder: the database, the archives, the deployments' workspaces and its own HEYO_HOME.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { BackendName } from "../shared/backend-name.js";
import { heyoHome, type HeyoHome } from "../state/home.js";

/** Public image names per driver, mapped to what this host has (null = the backend's default/host system). */
export type ImageCatalog = Partial<Record<BackendName, Record<string, string | null>>>;

/**
 * What a fresh server offers: for bubblewrap the host's own system (read-only) stands in for the
 * named image; for VM drivers the default heyvm VM image.
 */
export const DEFAULT_IMAGE_CATALOG: ImageCatalog = {
  bubblewrap: { "ubuntu:24.04": null, host: null },
  libvirt: { "ubuntu:24.04": null },
  firecracker: { "ubuntu:24.04": null },
  apple_virt: { "ubuntu:24.04": null },
};

export interface ServerConfig {
  host: string;
  port: number;
  dataDir: string;
  /** The address clients reach the server at (for upload and proxy URLs); default http://host:port. */
  publicUrl?: string;
  maxUploadBytes: number;
  /** Extracted size limit of one archive (against decompression bombs). */
  maxExtractedBytes: number;
  uploadUrlTtlSeconds: number;
  /** How often TTLs and liveness are checked. */
  sweepMs: number;
  maxActivePerToken: number;
  /** How long a shell session waits for its client to reconnect. */
  shellGraceMs: number;
  images: ImageCatalog;
  /** Largest image bundle the registry takes (as uploaded). */
  maxImageBytes: number;
  /** Largest an image may be once unpacked (its disk is sparse on the client, not in the bundle). */
  maxImageUnpackedBytes: number;
  maxImagesPerToken: number;
  /** Run firecracker-format images under libvirt on a host without Firecracker (the operator's choice). */
  firecrackerImagesOnLibvirt: boolean;
}

export function defaultServerConfig(dataDir: string): ServerConfig {
  return {
    host: "127.0.0.1",
    port: 8787,
    dataDir,
    maxUploadBytes: 2 * 1024 ** 3,
    maxExtractedBytes: 8 * 1024 ** 3,
    uploadUrlTtlSeconds: 900,
    sweepMs: 1000,
    maxActivePerToken: 20,
    shellGraceMs: 60_000,
    images: DEFAULT_IMAGE_CATALOG,
    maxImageBytes: 8 * 1024 ** 3,
    maxImageUnpackedBytes: 32 * 1024 ** 3,
    maxImagesPerToken: 50,
    firecrackerImagesOnLibvirt: false,
  };
}

/** The data folder as an object with one property per place, so no path is spelled twice. */
export class ServerData {
  constructor(readonly root: string) {}
  get database(): string {
    return join(this.root, "heyvm-cloud.db");
  }
  get secretFile(): string {
    return join(this.root, "signing.key");
  }
  get archives(): string {
    return join(this.root, "archives");
  }
  archivePath(id: string): string {
    return join(this.archives, `${id}.tar.gz`);
  }
  get workspaces(): string {
    return join(this.root, "workspaces");
  }
  workspacePath(deploymentId: string): string {
    return join(this.workspaces, deploymentId);
  }
  /** The server's own HEYO_HOME for the sandboxes it runs (short: socket paths are limited). */
  get home(): HeyoHome {
    return heyoHome({ HEYO_HOME: join(this.root, "h") });
  }
  ensure(): void {
    for (const dir of [this.root, this.archives, this.workspaces]) mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
}

/** The data folder when none is given: $HEYVM_SERVER_DATA, else <HEYO_HOME>/server. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.HEYVM_SERVER_DATA || join(heyoHome(env).root, "server");
}
