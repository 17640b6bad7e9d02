// The cloud server's settings and its data folder layout. Everything it keeps lives under one
// data folder: the database, the archives, the deployments' workspaces and its own HEYO_HOME.
import { chmodSync, mkdirSync } from "node:fs";
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
  /** Extracted size limit of one archive (against decompression bombs; refused as 422). */
  maxExtractedBytes: number;
  /** Entry count limit of one archive (against a flood of tiny files; refused as 422). */
  maxArchiveEntries: number;
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
  /** Concurrent shell sessions per token and in all (each holds a pty and two processes). */
  maxShellsPerToken: number;
  maxShells: number;
  /** Concurrent execs per token and in all. */
  maxExecsPerToken: number;
  maxExecs: number;
  /** Concurrent port relays (a connection to a deployment's port not forwarded at boot, or a port-forward tunnel) per token and in all: each holds a process. */
  maxRelaysPerToken: number;
  maxRelays: number;
  /** How much of each of an exec's streams is captured (more is cut and the answer says so). */
  execOutputBytes: number;
  /** How long a shell client may take none of its output before it is disconnected. */
  shellStallMs: number;
  /** What one token may keep on disk: archives, images and its deployments' workspaces. */
  storageQuotaBytes: number;
  /** How long a stopped deployment's workspace is kept (for a start) before the sweep removes it. */
  keepStoppedSeconds: number;
  /** Public endpoints are served as <endpoint>.<domain> (their own origin); default localhost. */
  domain: string;
}

export function defaultServerConfig(dataDir: string): ServerConfig {
  return {
    host: "127.0.0.1",
    port: 8787,
    dataDir,
    maxUploadBytes: 2 * 1024 ** 3,
    maxExtractedBytes: 8 * 1024 ** 3,
    maxArchiveEntries: 1_000_000,
    uploadUrlTtlSeconds: 900,
    sweepMs: 1000,
    maxActivePerToken: 20,
    shellGraceMs: 60_000,
    images: DEFAULT_IMAGE_CATALOG,
    maxImageBytes: 8 * 1024 ** 3,
    maxImageUnpackedBytes: 32 * 1024 ** 3,
    maxImagesPerToken: 50,
    firecrackerImagesOnLibvirt: false,
    maxShellsPerToken: 8,
    maxShells: 128,
    maxExecsPerToken: 16,
    maxExecs: 64,
    maxRelaysPerToken: 16,
    maxRelays: 128,
    execOutputBytes: 1024 * 1024,
    shellStallMs: 60_000,
    storageQuotaBytes: 10 * 1024 ** 3,
    keepStoppedSeconds: 24 * 3600,
    domain: "localhost",
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
  /** Where an upload is written before it is renamed to archivePath (one per PUT). */
  uploadPartPath(id: string, nonce: string): string {
    return `${this.archivePath(id)}.${nonce}.part`;
  }
  /** Whether a file name in archives/ is an upload's .part file (of archive id, or of any). */
  isUploadPart(name: string, id?: string): boolean {
    return name.endsWith(".part") && (id === undefined ? /^arc-[0-9a-f]+\.tar\.gz\.[0-9a-f]+\.part$/.test(name) : name.startsWith(`${id}.tar.gz.`));
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
  /** Makes the folders, readable by the server's user only (0700, also when they were there already). */
  ensure(): void {
    for (const dir of [this.root, this.archives, this.workspaces]) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      chmodSync(dir, 0o700);
    }
  }
}

/** The data folder when none is given: $HEYVM_SERVER_DATA, else <HEYO_HOME>/server. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.HEYVM_SERVER_DATA || join(heyoHome(env).root, "server");
}
