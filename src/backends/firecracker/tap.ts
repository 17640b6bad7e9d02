// Outbound network for a firecracker sandbox, as Firecracker's docs/network-setup.md does it: a
// TAP device per sandbox on the host with a /30 of its own (the host end is the guest's gateway),
// IP forwarding, and NAT (MASQUERADE) for what the guest sends out. heyvm adds what makes it
// outbound only, like the other backends' networks: every packet from the TAP to the host itself
// is dropped (no host service, on 127.0.0.1 or any other address, is reachable from the guest),
// and nothing is forwarded into the TAP that the guest did not start. Every rule carries the
// comment heyvm-<id>, so the stop (or the reaping after a SIGKILLed owner) removes exactly its own.
// Making a TAP needs root or CAP_NET_ADMIN; without it the sandbox runs with no network.
import { readFileSync, writeFileSync } from "node:fs";
import { findSystemExecutable, run } from "../../shared/run.js";

export interface TapPlan {
  /** The host's TAP device (IFNAMSIZ: at most 15 bytes). */
  device: string;
  /** The guest's MAC address on it (locally administered, from the sandbox id). */
  guestMac: string;
  hostAddress: string;
  guestAddress: string;
  /** The /30 both ends are in, e.g. 172.30.4.8/30. */
  subnet: string;
  /** The resolver the guest is told to use (the host's first non-loopback one), or null. */
  dns: string | null;
}

/** The range heyvm carves the sandboxes' /30s from (RFC 1918, rarely used by other tools). */
const RANGE = { first: "172.30", blocks: 16384 } as const;
const CAP_NET_ADMIN = 12;

/**
 * CAP_NET_ADMIN in this process's effective set (root has it, unless its capabilities were
 * dropped, as in many containers: uid 0 alone is not enough to make a TAP device).
 */
export function mayMakeTap(): boolean {
  try {
    const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
    return hex !== undefined && (BigInt(`0x${hex}`) >> BigInt(CAP_NET_ADMIN)) % 2n === 1n;
  } catch {
    return false;
  }
}

/** Why this host cannot give a firecracker sandbox a TAP network; undefined when it can. */
export function tapUnavailable(): string | undefined {
  if (!mayMakeTap()) return "heyvm has no privilege to make a TAP device (it needs root or CAP_NET_ADMIN)";
  for (const [tool, pkg] of [["ip", "iproute2"], ["iptables", "iptables"]] as const) {
    if (!findSystemExecutable(tool)) return `${tool} is not installed (apt-get install ${pkg})`;
  }
  return undefined;
}

function addressesInUse(): Set<string> {
  try {
    // "3: eth0    inet 10.0.0.5/24 ..." for every address this network namespace has
    const text = readFileSync("/proc/net/fib_trie", "utf8");
    return new Set([...text.matchAll(/(\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1] ?? ""));
  } catch {
    return new Set();
  }
}

function hostResolver(): string | null {
  try {
    const servers = [...readFileSync("/etc/resolv.conf", "utf8").matchAll(/^nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/gm)].map((m) => m[1] ?? "");
    return servers.find((server) => !server.startsWith("127.")) ?? null;
  } catch {
    return null;
  }
}

/** The TAP, addresses and MAC a sandbox gets: its own /30, starting from one its id picks. */
export function planTap(sandboxId: string): TapPlan {
  const hex = sandboxId.replace(/^sb-/, "").replace(/[^0-9a-f]/g, "").padEnd(8, "0").slice(0, 8);
  const used = addressesInUse();
  const start = parseInt(hex, 16) % RANGE.blocks;
  for (let step = 0; step < RANGE.blocks; step++) {
    const block = (start + step) % RANGE.blocks;
    const base = block * 4;
    const prefix = `${RANGE.first}.${Math.floor(base / 256)}`;
    const [network, host, guest] = [base % 256, (base % 256) + 1, (base % 256) + 2];
    if (used.has(`${prefix}.${network}`) || used.has(`${prefix}.${host}`) || used.has(`${prefix}.${guest}`)) continue;
    const mac = `06:00:${(hex.match(/../g) ?? []).join(":")}`;
    return { device: `hv${hex}`, guestMac: mac, hostAddress: `${prefix}.${host}`, guestAddress: `${prefix}.${guest}`, subnet: `${prefix}.${network}/30`, dns: hostResolver() };
  }
  throw new Error(`no free /30 left in ${RANGE.first}.0.0/16 for a TAP device`);
}

function comment(sandboxId: string): string[] {
  return ["-m", "comment", "--comment", `heyvm-${sandboxId}`];
}

/** The iptables rules of a sandbox's TAP: table, then the rule as `-A` would take it. */
function rules(plan: TapPlan, sandboxId: string): Array<[string, string[]]> {
  return [
    ["nat", ["POSTROUTING", "-s", plan.subnet, "!", "-o", plan.device, ...comment(sandboxId), "-j", "MASQUERADE"]],
    ["filter", ["INPUT", "-i", plan.device, ...comment(sandboxId), "-j", "DROP"]],
    ["filter", ["FORWARD", "-i", plan.device, "-s", plan.subnet, ...comment(sandboxId), "-j", "ACCEPT"]],
    ["filter", ["FORWARD", "-o", plan.device, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", ...comment(sandboxId), "-j", "ACCEPT"]],
    ["filter", ["FORWARD", "-o", plan.device, ...comment(sandboxId), "-j", "DROP"]],
  ];
}

/** Makes the TAP, its address, forwarding and the NAT and filter rules (removing leftovers first). */
export async function createTap(plan: TapPlan, sandboxId: string): Promise<void> {
  await removeTap(plan.device, sandboxId);
  await run("ip", ["tuntap", "add", "dev", plan.device, "mode", "tap"]);
  try {
    await run("ip", ["addr", "add", `${plan.hostAddress}/30`, "dev", plan.device]);
    await run("ip", ["link", "set", plan.device, "up"]);
    writeFileSync("/proc/sys/net/ipv4/ip_forward", "1\n");
    // inserted first, so that they apply whatever other rules the host has
    for (const [table, rule] of rules(plan, sandboxId).reverse()) await run("iptables", ["-w", "-t", table, "-I", rule[0] ?? "", ...rule.slice(1)]);
  } catch (error) {
    await removeTap(plan.device, sandboxId);
    throw error;
  }
}

/** Removes the TAP and every rule carrying the sandbox's comment; what is not there is fine. */
export async function removeTap(device: string, sandboxId: string): Promise<boolean> {
  let removed = false;
  if (findSystemExecutable("iptables")) {
    for (const table of ["nat", "filter"]) {
      const listed = await run("iptables", ["-w", "-t", table, "-S"], { allowFailure: true });
      for (const line of listed.stdout.split("\n")) {
        if (!line.startsWith("-A ") || !line.includes(`heyvm-${sandboxId}`)) continue;
        // iptables -S prints a rule as -A would take it; -D takes the same words
        const words = [...line.slice(3).matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? "");
        await run("iptables", ["-w", "-t", table, "-D", ...words], { allowFailure: true });
        removed = true;
      }
    }
  }
  const deleted = await run("ip", ["link", "del", device], { allowFailure: true });
  return removed || deleted.code === 0;
}
