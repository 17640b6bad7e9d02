// SSH access to VM sandboxes. heyvm makes one key pair per sandbox and the guest's host key
// itself, and pins that host key under an alias (so no fingerprint prompt and never
// host-key checking switched off). Connections are shared (ControlMaster), so after the first one
// an exec costs one round trip instead of a full handshake.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../shared/run.js";
import { shellQuote } from "../shared/shell-quote.js";
import type { SandboxDir } from "../state/sandbox-dir.js";
import type { SshEndpoint } from "../state/records.js";
import type { CommandOptions, SpawnSpec } from "./types.js";
import type { ExecPart, ExecRecipe } from "./exec-recipe.js";

export interface SshMaterial {
  /** The client's private key (its .pub is installed for heyo in the guest). */
  clientKey: string;
  clientPublicKey: string;
  /** The guest's host private key, handed to the guest at boot. */
  hostKey: string;
  hostPublicKey: string;
  knownHosts: string;
  controlPath: string;
}

export function sshMaterial(dir: SandboxDir): SshMaterial {
  const ssh = dir.sshPath;
  return {
    clientKey: join(ssh, "id_ed25519"),
    clientPublicKey: join(ssh, "id_ed25519.pub"),
    hostKey: join(ssh, "ssh_host_ed25519_key"),
    hostPublicKey: join(ssh, "ssh_host_ed25519_key.pub"),
    knownHosts: join(ssh, "known_hosts"),
    controlPath: join(ssh, "ctl"),
  };
}

/** The name the pinned host key is filed under, independent of the forwarded port. */
export function hostAlias(dir: SandboxDir): string {
  return `heyvm-${dir.id}`;
}

/** Creates the sandbox's key pair, the guest host key and the pinned known_hosts (once). */
export async function ensureSshMaterial(dir: SandboxDir): Promise<SshMaterial> {
  const material = sshMaterial(dir);
  mkdirSync(dir.sshPath, { recursive: true, mode: 0o700 });
  for (const [key, comment] of [[material.clientKey, `heyvm-client-${dir.id}`], [material.hostKey, hostAlias(dir)]] as const) {
    if (!existsSync(key)) await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", key]);
  }
  const hostPublic = readFileSync(material.hostPublicKey, "utf8").trim().split(" ").slice(0, 2).join(" ");
  writeFileSync(material.knownHosts, `${hostAlias(dir)} ${hostPublic}\n`, { mode: 0o600 });
  return material;
}


/**
 * Extra ssh options a backend adds for its transport, e.g. a ProxyCommand that reaches the guest
 * over vsock (firecracker); empty for a plain TCP endpoint.
 */
export type SshTransport = readonly string[];

function baseArgs(dir: SandboxDir, endpoint: SshEndpoint, transport: SshTransport = []): string[] {
  const material = sshMaterial(dir);
  return [
    ...transport,
    "-F", "/dev/null",
    "-i", material.clientKey,
    "-o", "IdentitiesOnly=yes",
    "-o", `UserKnownHostsFile=${material.knownHosts}`,
    "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", "StrictHostKeyChecking=yes",
    "-o", `HostKeyAlias=${hostAlias(dir)}`,
    "-o", "ControlMaster=auto",
    "-o", `ControlPath=${material.controlPath}`,
    "-o", "ControlPersist=300",
    "-o", "ConnectTimeout=10",
    "-o", "ServerAliveInterval=15",
    "-o", "LogLevel=ERROR",
    "-p", String(endpoint.port),
    `${endpoint.user}@${endpoint.host}`,
  ];
}

function envPrefix(env: Record<string, string> | undefined): string {
  const pairs = Object.entries(env ?? {}).map(([key, value]) => `${key}=${shellQuote(value)}`);
  return pairs.length ? `export ${pairs.join(" ")}; ` : "";
}

/**
 * argv run in a folder inside the guest. The remote shell waits for the command (no exec), so a
 * command killed by a signal exits with 128 + signal, like a local shell reports it. The ssh
 * client gets the caller's environment (it sends none of it: -F /dev/null, no SendEnv).
 */
export function sshExecRecipe(dir: SandboxDir, endpoint: SshEndpoint, transport: SshTransport = []): ExecRecipe {
  // "; exit $?" stops the remote shell from exec-ing the command, so it can report a signal death.
  const remote: ExecPart[] = [
    { env: { quote: true, prefix: "export ", separator: " ", suffix: "; " } },
    "cd ",
    { value: "cwd", quote: true },
    " || exit 127; ",
    { argv: { separator: " " } },
    "; exit $?",
  ];
  return { program: "ssh", lookup: null, args: ["-T", ...baseArgs(dir, endpoint, transport), "--", { join: remote }], env: null, cwd: "/workspace", checkEnvNames: false, checks: [] };
}

export function sshShell(dir: SandboxDir, endpoint: SshEndpoint, options: CommandOptions, transport: SshTransport = []): SpawnSpec {
  const cwd = shellQuote(options.cwd ?? "/workspace");
  const remote = `${envPrefix(options.env)}cd ${cwd}; if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi`;
  return { file: "ssh", args: [options.tty ? "-tt" : "-T", ...baseArgs(dir, endpoint, transport), "--", remote] };
}

/** Runs a command over SSH and collects its output (readiness checks, shutdown). */
export function sshRun(dir: SandboxDir, endpoint: SshEndpoint, remote: string, timeoutMs: number, transport: SshTransport = []) {
  return run("ssh", ["-T", "-o", "BatchMode=yes", ...baseArgs(dir, endpoint, transport), "--", remote], { timeout: timeoutMs, allowFailure: true });
}

/** Ends the shared connection of a sandbox (when it stops), so no ssh process is left behind. */
export async function closeSshMaster(dir: SandboxDir, endpoint: SshEndpoint, transport: SshTransport = []): Promise<void> {
  const material = sshMaterial(dir);
  if (!existsSync(material.controlPath)) return;
  await run("ssh", ["-O", "exit", ...baseArgs(dir, endpoint, transport)], { allowFailure: true, timeout: 5000 }).catch(() => undefined);
  rmSync(material.controlPath, { force: true });
}
