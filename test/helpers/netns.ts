// Network namespaces a test makes for itself, so that sandboxes have somewhere "outside" to
// reach without any traffic leaving this machine: a peer namespace on a veth pair (198.18.x.y,
// the benchmarking range), answering TCP with a greeting and UDP port 53 with an echo. With
// ownHost, the side of the veth that is not the peer is a second namespace too, standing in for
// the host (heyvm runs there through `ip netns exec`, its default route leads to the peer, its
// resolv.conf names the peer, and it has a service on its own 127.0.0.1): then even traffic a
// sandbox sends to addresses that are nobody's stays between the two namespaces.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "./env.js";

export interface TestNetwork {
  peerAddress: string;
  /** TCP port on the peer that answers "hello from the peer". */
  peerPort: number;
  /** With ownHost: the namespace standing in for the host, and its 127.0.0.1 service's port. */
  hostNamespace?: string;
  hostOnlyPort?: number;
  /** argv run in the namespace standing in for the host (unchanged without ownHost). */
  wrap(argv: string[]): string[];
  cleanup(): Promise<void>;
}

export function netnsMissing(): string | false {
  if (process.getuid?.() !== 0) return "network namespaces for the test need root";
  if (spawnSync("sh", ["-c", "command -v ip"]).status !== 0) return "ip (iproute2) is not installed";
  return false;
}

function ip(...args: string[]): void {
  const result = spawnSync("ip", args, { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`ip ${args.join(" ")}: ${result.stderr}`);
}

/** A node script in a namespace that prints "port N" once it listens; resolves with N. */
async function serve(namespace: string, script: string, children: ChildProcess[]): Promise<number> {
  const child = spawn("ip", ["netns", "exec", namespace, process.execPath, "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  await waitFor(() => /port \d+/.test(output) || child.exitCode !== null, 10_000, `a listener in ${namespace}`);
  const port = Number(/port (\d+)/.exec(output)?.[1]);
  if (!port) throw new Error(`the listener in ${namespace} did not start: ${output}`);
  return port;
}

/** hostOnlyPort: the port of the 127.0.0.1 service in the host's stand-in (random if left out). */
export async function startTestNetwork(options: { ownHost: boolean; hostOnlyPort?: number }): Promise<TestNetwork> {
  const tag = randomBytes(3).toString("hex");
  const peer = `heyvm-peer-${tag}`;
  const host = options.ownHost ? `heyvm-host-${tag}` : undefined;
  const [hostSide, peerSide] = [`hvp${tag}a`, `hvp${tag}b`];
  const octet = 1 + (parseInt(tag.slice(0, 2), 16) % 254);
  const [hostAddress, peerAddress] = [`198.18.${octet}.1`, `198.18.${octet}.2`];
  const children: ChildProcess[] = [];
  const netnsEtc = host ? join("/etc/netns", host) : undefined;
  const cleanup = async () => {
    for (const child of children) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    }
    for (const namespace of [peer, host]) if (namespace) spawnSync("ip", ["netns", "del", namespace]); // takes the veth pair along
    if (!host) spawnSync("ip", ["link", "del", hostSide]);
    if (netnsEtc) rmSync(netnsEtc, { recursive: true, force: true });
  };
  const inHost = (args: string[]) => (host ? ["-n", host, ...args] : args);
  try {
    ip("netns", "add", peer);
    if (host) ip("netns", "add", host);
    ip("link", "add", hostSide, "type", "veth", "peer", "name", peerSide);
    ip("link", "set", peerSide, "netns", peer);
    if (host) ip("link", "set", hostSide, "netns", host);
    ip(...inHost(["addr", "add", `${hostAddress}/30`, "dev", hostSide]));
    ip(...inHost(["link", "set", hostSide, "up"]));
    ip("-n", peer, "addr", "add", `${peerAddress}/30`, "dev", peerSide);
    ip("-n", peer, "link", "set", peerSide, "up");
    ip("-n", peer, "link", "set", "lo", "up");
    if (host) {
      ip("-n", host, "link", "set", "lo", "up");
      ip("-n", host, "route", "add", "default", "via", peerAddress);
      mkdirSync(netnsEtc ?? "", { recursive: true }); // `ip netns exec` binds it over /etc/resolv.conf
      writeFileSync(join(netnsEtc ?? "", "resolv.conf"), `nameserver ${peerAddress}\n`);
    }
    const peerPort = await serve(peer, `const s=require("net").createServer(c=>c.end("hello from the peer\\n"));s.listen(0,${JSON.stringify(peerAddress)},()=>console.log("port",s.address().port))`, children);
    await serve(peer, `const s=require("dgram").createSocket("udp4");s.on("message",(m,r)=>s.send(Buffer.concat([Buffer.from("dns:"),m]),r.port,r.address));s.bind(53,${JSON.stringify(peerAddress)},()=>console.log("port",53))`, children);
    const hostOnlyPort = host ? await serve(host, `const s=require("net").createServer(c=>c.end("host-only service\\n"));s.listen(${options.hostOnlyPort ?? 0},"127.0.0.1",()=>console.log("port",s.address().port))`, children) : undefined;
    return {
      peerAddress,
      peerPort,
      hostNamespace: host,
      hostOnlyPort,
      wrap: (argv) => (host ? ["ip", "netns", "exec", host, ...argv] : argv),
      cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
