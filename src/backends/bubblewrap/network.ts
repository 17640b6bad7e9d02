// The default network of a bubblewrap sandbox: its own network namespace (bwrap --unshare-net)
// that pasta (Debian's `passt` package) connects to the outside with user-mode NAT, outbound
// only. pasta maps nothing onto the host: no ports of the host's loopback into the namespace
// (-T none -U none), the gateway address stays the real gateway (--no-map-gw), no port follows
// what the sandbox listens on (-t/-u none), and only the sandbox's exposed ports come in, each
// on a free port of the host's 127.0.0.1 forwarded to its own port inside. The host's loopback,
// its abstract unix sockets and the other sandboxes live in other namespaces: nothing inside can
// name them. DNS goes to the host's resolver through pasta (SANDBOX_DNS).
import type { ChildProcess } from "node:child_process";
import { existsSync, lstatSync, readFileSync, readlinkSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { UnavailableError } from "../../shared/errors.js";
import { findSystemExecutable } from "../../shared/run.js";
import { PASST_PACKAGE_HINT, startUserNetHelper } from "../user-net.js";
import type { HostUser } from "./host-user.js";
import { BUBBLEWRAP_FILES } from "./machine.js";
import { freePort } from "../../shared/free-port.js";

/**
 * The address the sandbox sends DNS queries to: pasta forwards them (UDP, port 53) to the host's
 * first resolver, even one on the host's loopback (systemd-resolved's 127.0.0.53), which is the
 * one thing of the host's loopback a sandbox reaches. Link-local, so it is nobody's real server.
 */
export const SANDBOX_DNS = "169.254.0.53";

export interface PortForward {
  /** The port on the host's 127.0.0.1. */
  host: number;
  /** The port inside the sandbox it reaches. */
  guest: number;
}

export function pastaPath(): string | undefined {
  return findSystemExecutable("pasta");
}


/** A port of the host's 127.0.0.1 for each exposed guest port: the one asked for, else a free one. */
export async function hostForwards(guestPorts: readonly number[], asked: Record<string, number> = {}): Promise<PortForward[]> {
  const forwards: PortForward[] = [];
  for (const guest of guestPorts) forwards.push({ host: asked[String(guest)] ?? (await freePort()), guest });
  return forwards;
}

export interface PastaTarget {
  /** The process holding the sandbox's outer user namespace (bwrap's first process). */
  outerPid: number;
  /** A process inside the sandbox's network namespace (its init). */
  initPid: number;
  forwards: PortForward[];
  /** A folder the sandbox's host user may write (pasta writes its pid file there). */
  runDir: string;
  /** Where pasta's messages go. */
  logPath: string;
  user: HostUser;
}

export function pastaArgs(target: PastaTarget, pidFile: string): string[] {
  const inbound = target.forwards.map((f) => `127.0.0.1/${f.host}:${f.guest}`).join(",");
  return [
    "--config-net", "--foreground", "--quiet",
    "--pid", pidFile,
    "--userns", `/proc/${target.outerPid}/ns/user`,
    "--netns", `/proc/${target.initPid}/ns/net`,
    "--no-map-gw",
    "--dns-forward", SANDBOX_DNS,
    "--tcp-ns", "none", "--udp-ns", "none",
    "--udp-ports", "none",
    "--tcp-ports", inbound || "none",
  ];
}

/** Starts pasta on the sandbox's namespace and resolves once the namespace is configured (user-net.ts). */
export async function startPasta(target: PastaTarget, signal: AbortSignal): Promise<ChildProcess> {
  const pasta = pastaPath();
  if (!pasta) throw new UnavailableError("pasta is not installed (the default network of bubblewrap sandboxes)", PASST_PACKAGE_HINT);
  const pidFile = join(target.runDir, BUBBLEWRAP_FILES.pastaPid);
  return startUserNetHelper({
    what: "the sandbox's network (pasta)",
    executable: pasta,
    args: pastaArgs(target, pidFile),
    pidFile,
    logPath: target.logPath,
    ...(target.user.dropsRoot ? { runAs: { uid: target.user.uid, gid: target.user.gid } } : {}),
  }, signal);
}

/**
 * The resolv.conf for a sandbox with its own network: SANDBOX_DNS, with the host's search and
 * options lines; undefined when the host has no resolver either.
 */
export function sandboxResolvConf(): string | undefined {
  let host = "";
  try {
    host = readFileSync("/etc/resolv.conf", "utf8");
  } catch {
    return undefined;
  }
  const lines = host.split("\n");
  if (!lines.some((line) => /^\s*nameserver\s+\S/.test(line))) return undefined;
  const kept = lines.filter((line) => /^\s*(search|domain|options)\s/.test(line));
  return [`# made by heyvm: pasta forwards this address to the host's resolver`, `nameserver ${SANDBOX_DNS}`, ...kept, ""].join("\n");
}

/**
 * Where a resolv.conf must be bound so the sandbox reads it: /etc/resolv.conf, or where it
 * points when it is a symbolic link (Ubuntu's points into /run, which bwrap makes itself).
 * Undefined when there is no such file to cover.
 */
export function resolvConfPath(root: string): string | undefined {
  const path = join(root, "etc", "resolv.conf");
  try {
    if (!lstatSync(path).isSymbolicLink()) return "/etc/resolv.conf";
    const target = readlinkSync(path);
    const inside = isAbsolute(target) ? target : resolve("/etc", target);
    return inside.startsWith("/run/") || existsSync(join(root, inside)) ? inside : undefined;
  } catch {
    return undefined;
  }
}
