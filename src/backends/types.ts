// The contract every backend (bubblewrap, libvirt, firecracker, apple_virt) fulfils. It is small
// on purpose: abilities only some backends have are separate interfaces with type guards below,
// `features` says what a runnable backend has, and a backend heyvm cannot drive yet (apple_virt)
// is a ProbeOnlyBackend with no boot, shell or exec at all, so no backend ever stubs what it cannot do.
import type { BackendName } from "../shared/backend-name.js";
import type { JsonObject } from "../shared/json.js";
import type { HeyoHome } from "../state/home.js";
import type { OwnerRecord, SandboxSpec, SshEndpoint } from "../state/records.js";
import type { SandboxDir } from "../state/sandbox-dir.js";
import type { ExecRecipe, SpawnSpec } from "./exec-recipe.js";

export type { SpawnSpec };

export interface BackendFeatures {
  /** How /workspace reaches the sandbox (shown by `heyvm backends`). */
  workspace: "bind" | "virtiofs" | "9p" | "virtiofs-or-9p" | "sshfs" | "sync";
  /** A real virtual machine with its own kernel (as opposed to namespaces on the host kernel). */
  virtualMachine: boolean;
  /** Accepts --image. */
  images: boolean;
  /** Can run with networking cut (--no-network). */
  networkIsolation: boolean;
}

export type Availability =
  | {
      usable: true;
      notes: string[];
      /** Set when it works only in a slow mode (a VM without KVM): never picked by default then. */
      degraded?: string;
    }
  | Unavailability;

/** Why a backend cannot run on this host, and what to do about it. */
export interface Unavailability {
  usable: false;
  reason: string;
  hint: string;
}

import type { Reporter } from "../shared/reporter.js";
export type { Reporter };

export interface BootContext {
  home: HeyoHome;
  dir: SandboxDir;
  spec: SandboxSpec;
  reporter: Reporter;
  /** Appends raw machine console output (serial) to the owner log. */
  console(chunk: string): void;
  /** Aborted when a stop arrives during a long boot: the backend gives up and cleans up. */
  signal: AbortSignal;
}

/** What the owner writes into owner.json so that later commands can reach the machine. */
export interface MachineInfo {
  guestIp: string | null;
  ssh: SshEndpoint | null;
  machine: JsonObject;
}

/**
 * What the owner's native monitor needs to keep supervising a booted machine once the Node
 * owner has turned into it (owner/hand-over.ts): numbers of open pipes, pids and files, nothing
 * that lives only in this process.
 */
export interface MachineHandover {
  /** The machine process that is the owner's child (bwrap, virsh); killing it ends the machine. */
  child: { pid: number; name: string };
  /** Pipes to keep open and never touch (virsh's stdin: closing it ends the domain). */
  keepFds: number[];
  /** Pipes carrying the machine's console: logged line by line. */
  consoleFds: number[];
  /** Pipes to read and discard, so that the child never blocks on a full pipe. */
  drainFds: number[];
  /** A process that is the machine without being the owner's child (QEMU under libvirtd). */
  watch: { pid: number; reason: string } | null;
  /** A file the machine's console goes to, and how much of it has been logged already. */
  follow: { path: string; offset: number } | null;
  /**
   * When the machine ends on its own, the monitor runs `heyvm __sandbox_stop <id> --ended`
   * (the backend's cleanUpAfterEnd) before it finishes: for what the machine leaves on the host.
   */
  cleanUpAfterEnd?: boolean;
}

/** A machine booted by the owner; the owner is its parent and its life is tied to the owner's. */
export interface RunningMachine {
  info: MachineInfo;
  /** Settles with a reason when the machine ends on its own (or after stop()). */
  exited: Promise<string>;
  /** Shuts the machine down gracefully, then by force after graceMs. */
  stop(graceMs: number): Promise<void>;
  /** Describes the running machine for the native monitor (throws if it has already ended). */
  handover?(): MachineHandover;
}

/** Everything known about a running sandbox, as read by a CLI command. */
export interface MachineAccess {
  dir: SandboxDir;
  spec: SandboxSpec;
  owner: OwnerRecord;
}

export interface CommandOptions {
  /** Allocate a terminal inside (interactive shells). */
  tty: boolean;
  /** Working folder inside; /workspace when not given. */
  cwd?: string;
  /** Extra environment variables for the command. */
  env?: Record<string, string>;
}

/** What heyvm knows of every backend, runnable or not: its name and a check of this host. */
export interface BackendIdentity {
  readonly name: BackendName;
  /** Cheap checks (binaries, KVM, daemon) saying whether this host can run the backend. */
  probe(): Promise<Availability>;
}

/** A backend heyvm drives: it boots machines and opens shells and commands in them. */
export interface Backend extends BackendIdentity {
  readonly features: BackendFeatures;
  /** Runs inside the owner process: boots the machine and resolves once it is ready for use. */
  boot(context: BootContext): Promise<RunningMachine>;
  /** The command that opens a login shell in /workspace of a running sandbox. */
  shellCommand(access: MachineAccess, options: CommandOptions): SpawnSpec;
  /**
   * How argv is run in a running sandbox with stdio passed through, as data (exec-recipe.ts):
   * the Node CLI expands it at each exec, the native launcher expands the copy the owner wrote.
   */
  execRecipe(access: MachineAccess): ExecRecipe;
}

/**
 * A backend heyvm knows but cannot drive yet (apple_virt): only a probe that says
 * what this host lacks, so that `--backend` fails helpfully and the default choice skips it.
 */
export interface ProbeOnlyBackend extends BackendIdentity {
  probe(): Promise<Unavailability>;
  /** Why it cannot run even on a host that has everything it needs. */
  readonly cannotRun: Omit<Unavailability, "usable">;
}

/** Any backend the registry knows, runnable or not. */
export type KnownBackend = Backend | ProbeOnlyBackend;

export function isRunnable(backend: KnownBackend): backend is Backend {
  return !("cannotRun" in backend);
}

/** Backends that boot from an image which may have to be built or checked first. */
export interface ImagePreparer {
  /** Makes sure the image exists and is sound (building the default one if needed). */
  prepareImage(home: HeyoHome, image: string | null, reporter: Reporter): Promise<void>;
}

export function canPrepareImages(backend: KnownBackend): backend is Backend & ImagePreparer {
  return typeof (backend as Partial<ImagePreparer>).prepareImage === "function";
}

/** Backends whose machines can outlive a SIGKILLed owner (a libvirt domain, say). */
export interface OrphanReaper {
  /** Removes whatever a dead owner left running; returns what it cleaned, for the log. */
  reapOrphans(home: HeyoHome, dir: SandboxDir, spec: SandboxSpec): Promise<string[]>;
}

export function canReapOrphans(backend: KnownBackend): backend is Backend & OrphanReaper {
  return typeof (backend as Partial<OrphanReaper>).reapOrphans === "function";
}

/**
 * Backends whose machines can be shut down gracefully from a fresh process, knowing only what
 * owner.json records: what the native owner monitor runs (`heyvm __sandbox_stop`) on a stop
 * request. Ending the machine by force is the monitor's part (it kills its child).
 */
export interface GracefulStopper {
  shutDownGracefully(access: MachineAccess, graceMs: number, reporter: Reporter): Promise<void>;
  /** After a machine that ended on its own (MachineHandover.cleanUpAfterEnd): removes what it left on the host. */
  cleanUpAfterEnd?(access: MachineAccess, reporter: Reporter): Promise<void>;
}

export function canStopGracefully(backend: KnownBackend): backend is Backend & GracefulStopper {
  return typeof (backend as Partial<GracefulStopper>).shutDownGracefully === "function";
}

/** Backends that need per-sandbox files (keys, a disk overlay) made before the first boot. */
export interface SandboxPreparer {
  /** Creates per-sandbox resources (keys, disk overlay) before the owner boots it. */
  prepareSandbox(home: HeyoHome, dir: SandboxDir, spec: SandboxSpec, reporter: Reporter): Promise<void>;
}

export function canPrepareSandboxes(backend: KnownBackend): backend is Backend & SandboxPreparer {
  return typeof (backend as Partial<SandboxPreparer>).prepareSandbox === "function";
}

/** Where on the host something answers: an address and a TCP port. */
export interface HostEndpoint {
  host: string;
  port: number;
}

/** Backends whose running sandboxes' guest ports can be reached from the host (the cloud's port proxy). */
export interface PortReacher {
  /** The host endpoint that reaches guestPort in this running sandbox; undefined when none does. */
  portEndpoint(access: MachineAccess, guestPort: number): HostEndpoint | undefined;
}

export function canReachPorts(backend: KnownBackend): backend is Backend & PortReacher {
  return typeof (backend as Partial<PortReacher>).portEndpoint === "function";
}
