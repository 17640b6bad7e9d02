// The owner's hand-over: once its sandbox is ready, the Node owner replaces itself (execve) with
// heyvm's native owner monitor (native/owner-monitor.c). The pid stays, so owner.json stays true;
// the machine stays its child; the control socket, the machine's pipes and the readiness pipe
// pass by number. An idle Node process holds about 40 MB of memory; the monitor well under 1 MB.
import { errorMessage } from "../shared/errors.js";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import type { Server } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { MachineHandover } from "../backends/types.js";
import { handleFd } from "../shared/handle-fd.js";

const MONITOR = "heyvm-owner-monitor";
const ADDON = "heyvm_exec.node";

interface ExecAddon {
  holdSignals(): void;
  releaseSignals(): void;
  execKeepingFds(file: string, argv: string[], env: string[], keepFds: number[]): never;
}

/** How long the hand-over waits for control connections Node has accepted to be answered. */
const QUIET_WAIT_MS = 1000;

export interface HandoverPlan {
  id: string;
  /** The control socket's server: its open connections are answered before the hand-over. */
  server: Server;
  logPath: string;
  ownerPath: string;
  exitPath: string;
  liveMarker: string;
  socketPath: string;
  /** The pipe to the heyvm command waiting for readiness, if it is still open. */
  readyFd: number | undefined;
  attached: boolean;
  /** Called only once nothing can interrupt the hand-over any more. */
  machine: () => MachineHandover;
  /** What the monitor runs on a stop request: the backend's graceful shutdown. */
  stopCommand: string[];
  stopTimeoutMs: number;
}

/** build/Release (node-gyp's output) of the checkout or package, searched upward from here. */
function nativeDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 5; depth++) {
    const candidate = join(dir, "build", "Release");
    if (existsSync(join(candidate, MONITOR)) && existsSync(join(candidate, ADDON))) return candidate;
    dir = dirname(dir);
  }
  return undefined;
}

/** The monitor's argv; argv[0..2] keep the process looking like `heyvm __sandbox_owner <id>`. */
function monitorArgv(plan: Omit<HandoverPlan, "server" | "machine">, machine: MachineHandover, listenFd: number): string[] {
  const argv = ["heyvm", "__sandbox_owner", plan.id, "--monitor"];
  argv.push("--log", plan.logPath, "--owner-json", plan.ownerPath, "--exit-json", plan.exitPath, "--live", plan.liveMarker, "--socket", plan.socketPath);
  argv.push("--listen-fd", String(listenFd), "--child", String(machine.child.pid), "--child-name", machine.child.name);
  if (plan.readyFd !== undefined) argv.push("--ready-fd", String(plan.readyFd));
  for (const fd of machine.keepFds) argv.push("--keep-fd", String(fd));
  for (const fd of machine.consoleFds) argv.push("--console-fd", String(fd));
  for (const fd of machine.drainFds) argv.push("--drain-fd", String(fd));
  if (machine.watch) argv.push("--watch-pid", String(machine.watch.pid), "--watch-reason", machine.watch.reason);
  if (machine.follow) argv.push("--follow", machine.follow.path, "--follow-offset", String(machine.follow.offset));
  if (plan.attached) argv.push("--attached");
  argv.push("--stop-timeout-ms", String(plan.stopTimeoutMs), "--", ...plan.stopCommand);
  return argv;
}

function openConnections(server: Server): Promise<number> {
  return new Promise((resolve) => server.getConnections((error, count) => resolve(error ? 0 : count)));
}

/**
 * Lets Node finish what it has started before the exec: signals are held from here on (pending,
 * they reach the monitor), signals Node already took get their handlers run, and the control
 * connections it accepted get their answers (the exec would close them unanswered).
 */
async function quieten(server: Server): Promise<void> {
  const deadline = Date.now() + QUIET_WAIT_MS;
  do {
    await new Promise((resolve) => setTimeout(resolve, 2));
  } while ((await openConnections(server)) > 0 && Date.now() < deadline);
}

/**
 * Replaces this process with the monitor. Resolves only if it did not, saying why; isStopping
 * is asked last, so a stop that arrived meanwhile is left to the Node owner.
 */
export async function handOver(plan: HandoverPlan, isStopping: () => boolean): Promise<string> {
  const dir = nativeDir();
  if (!dir) return `the native owner monitor is not built (${MONITOR} and ${ADDON}; run \`npm run build\`)`;
  let addon: ExecAddon;
  try {
    addon = createRequire(import.meta.url)(join(dir, ADDON)) as ExecAddon;
  } catch (error) {
    return `could not load ${ADDON}: ${errorMessage(error)}`;
  }
  const listenFd = handleFd(plan.server);
  if (listenFd === undefined) return "the control socket's descriptor is not available";
  addon.holdSignals();
  try {
    await quieten(plan.server);
    if (isStopping()) return "a stop request came during the hand-over";
    const machine = plan.machine();
    // stdin too when attached (its end is the attached command going away): node marks it close-on-exec
    const keep = [listenFd, ...(plan.readyFd === undefined ? [] : [plan.readyFd]), ...(plan.attached ? [0] : []), ...machine.keepFds, ...machine.consoleFds, ...machine.drainFds];
    const env = Object.entries(process.env).flatMap(([key, value]) => (value === undefined ? [] : [`${key}=${value}`]));
    addon.execKeepingFds(join(dir, MONITOR), monitorArgv(plan, machine, listenFd), env, keep);
    return "execve returned";
  } catch (error) {
    return `the hand-over failed: ${errorMessage(error)}`;
  } finally {
    addon.releaseSignals(); // reached only when this process stays the owner
  }
}
