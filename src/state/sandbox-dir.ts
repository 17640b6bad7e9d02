// The per-sandbox folder as an object with one property per file, so no file name is spelled
// twice anywhere in the code (the layout is in ARCHITECTURE.md §2).
import type { HeyoHome } from "./home.js";

export const SANDBOX_FILES = {
  spec: "sandbox.json",
  owner: "owner.json",
  exit: "exit.json",
  log: "owner.log",
  socket: "owner.sock",
  home: "home",
  homeImage: "home.ext4",
  disk: "disk.qcow2",
  ssh: "ssh",
  guest: "guest",
  launch: "launch.json",
  hostIds: "host-ids.json",
  gitStore: "git",
  gitLink: "git-link",
  gitSync: "git-sync.json",
  binds: "binds.json",
} as const;

export class SandboxDir {
  readonly id: string;
  readonly root: string;
  /** This sandbox's entry in the live index (HEYO_HOME/live/<id>), present while an owner runs. */
  readonly liveMarker: string;
  /** HEYO_HOME/changed/<id>: written after this sandbox's records change (catalog-index.ts). */
  readonly changedMarker: string;
  constructor(home: HeyoHome, id: string) {
    this.id = id;
    this.root = `${home.sandboxes}/${id}`; // home paths are absolute and normalised already
    this.liveMarker = `${home.live}/${id}`;
    this.changedMarker = `${home.changed}/${id}`;
  }
  get specPath(): string {
    return `${this.root}/${SANDBOX_FILES.spec}`;
  }
  get ownerPath(): string {
    return `${this.root}/${SANDBOX_FILES.owner}`;
  }
  /** Why the last owner ended, written by the owner as it exits. */
  get exitPath(): string {
    return `${this.root}/${SANDBOX_FILES.exit}`;
  }
  get logPath(): string {
    return `${this.root}/${SANDBOX_FILES.log}`;
  }
  get socketPath(): string {
    return `${this.root}/${SANDBOX_FILES.socket}`;
  }
  /** The sandbox user's home folder (bubblewrap binds it; it survives restarts). */
  get homePath(): string {
    return `${this.root}/${SANDBOX_FILES.home}`;
  }
  /** The fixed-size file system mounted on homePath while a bubblewrap sandbox runs (heyvm as root): its disk bound. */
  get homeImagePath(): string {
    return `${this.root}/${SANDBOX_FILES.homeImage}`;
  }
  /** The copy-on-write disk over the image (VM backends). */
  get diskPath(): string {
    return `${this.root}/${SANDBOX_FILES.disk}`;
  }
  /** Key pair and pinned known_hosts for SSH backends. */
  get sshPath(): string {
    return `${this.root}/${SANDBOX_FILES.ssh}`;
  }
  /** What the native launcher needs to answer exec and list for this running sandbox (core/launch-record.ts). */
  get launchPath(): string {
    return `${this.root}/${SANDBOX_FILES.launch}`;
  }
  /** The host uid/gid slot the sandbox holds when heyvm runs as root (backends/host-ids.ts). */
  get hostIdsPath(): string {
    return `${this.root}/${SANDBOX_FILES.hostIds}`;
  }
  /** The sandbox's own git folder (objects, refs, HEAD, index, config): its git works here, never in the host's (core/git-store.ts). */
  get gitStorePath(): string {
    return `${this.root}/${SANDBOX_FILES.gitStore}`;
  }
  /** heyvm's `.git` file, bound read-only over the worktree's own: it names the store as the sandbox sees it. */
  get gitLinkPath(): string {
    return `${this.root}/${SANDBOX_FILES.gitLink}`;
  }
  /** What host and sandbox last agreed on (core/git-sync.ts); heyvm's alone, never seen inside. */
  get gitSyncPath(): string {
    return `${this.root}/${SANDBOX_FILES.gitSync}`;
  }
  /** Files handed to the guest at boot (authorized key, host key, settings). */
  get guestConfigPath(): string {
    return `${this.root}/${SANDBOX_FILES.guest}`;
  }
  /** The ports `heyvm bind` exposed and their relays (core/port-binds.ts); heyvm's own. */
  get bindsPath(): string {
    return `${this.root}/${SANDBOX_FILES.binds}`;
  }
  /** What the relay of a bound port says (its errors). */
  relayLogPath(port: number): string {
    return `${this.root}/relay-${port}.log`;
  }
}
