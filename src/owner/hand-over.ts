// The owner's hand-over: once its sandbox is ready, the Node owner replaces itself (execve) with
// heyvm's native owner monitor (native/monitor/). The pid stays, so owner.json stays true; the
// machine stays its child; the control socket, the machine's pipes and the readiness pipe pass by
// number. An idle Node process holds about 40 MB of memory; the monitor well under 1 MB.
import { errorMessage } from "../shared/errors.js";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import type { Server } from "node:net";
import { dirname, join } from "node:path";
import type { MachineHandover } from "../backends/types.js";
import { handleFd } from "../shared/handle-fd.js";
import { nativeBinary } from "../shared/native-binary.js";
import { MONITOR_API_VERSION, monitorArgv, type MonitorInvocation } from "./monitor-argv.js";

const MONITOR = "heyvm-owner-monitor";
const ADDON = "heyvm_exec.node";

interface ExecAddon {
  holdSignals(): void;
  releaseSignals(): void;
  execKeepingFds(file: string, argv: string[], env: string[], keepFds: number[]): never;
}

/** How long the hand-over waits for control connections Node has accepted to be answered. */
const QUIET_WAIT_MS = 1000;

/** How long the monitor may take to say which API version it speaks (it prints a number). */
const VERSION_CHECK_TIMEOUT_MS = 2000;

/** Names another monitor binary than the built one (tests; packagers that install it elsewhere). */
const MONITOR_PATH_ENV = "HEYVM_OWNER_MONITOR_PATH";

/** What the hand-over needs: the monitor's invocation, before the machine is described. */
export interface HandoverPlan extends Omit<MonitorInvocation, "listenFd" | "machine"> {
  /** The control socket's server: its open connections are answered before the hand-over. */
  server: Server;
  /** Called only once nothing can interrupt the hand-over any more. */
  machine: () => MachineHandover;
}

/** build/Release (node-gyp's output) of the checkout or package: where the addon is (import.meta is empty in the CommonJS bundle). */
function nativeDir(): string | undefined {
  const addon = nativeBinary(ADDON);
  return addon ? dirname(addon) : undefined;
}

/**
 * Asks the monitor binary which API version it speaks (`--api-version` alone prints it), so that
 * one from another heyvm build is found out before the exec, while this process can still stay
 * the owner, rather than after it. Resolves with why it cannot be used, or undefined.
 */
function versionProblem(monitor: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(monitor, ["--api-version"], { timeout: VERSION_CHECK_TIMEOUT_MS, encoding: "utf8" }, (error, stdout, stderr) => {
      const spoken = stdout.trim();
      if (error) {
        const said = (stderr.trim() || spoken).split("\n")[0];
        resolve(`the native owner monitor ${monitor} did not say which API version it speaks (${said || errorMessage(error)}); this heyvm speaks ${MONITOR_API_VERSION}`);
      } else if (spoken !== String(MONITOR_API_VERSION)) {
        resolve(`the native owner monitor ${monitor} speaks API version ${JSON.stringify(spoken.slice(0, 40))}, this heyvm speaks ${MONITOR_API_VERSION} (rebuild it with \`npm run build\`)`);
      } else {
        resolve(undefined);
      }
    });
  });
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

/** The native monitor binary and the addon that execs into it, found and checked. */
export interface NativeMonitor {
  monitorPath: string;
  addonPath: string;
}

/**
 * Finds the monitor and the addon and asks the monitor which API version it speaks; resolves
 * with them, or with why they cannot be used. One tiny process: the owner starts it while its
 * machine boots, so that it costs the start nothing.
 */
export async function findNativeMonitor(): Promise<NativeMonitor | string> {
  const dir = nativeDir();
  if (!dir) return `the native owner monitor is not built (${ADDON} and ${MONITOR}; run \`npm run build\`)`;
  const monitorPath = process.env[MONITOR_PATH_ENV] || join(dir, MONITOR);
  if (!existsSync(monitorPath)) return `the native owner monitor is not built (${monitorPath}; run \`npm run build\`)`;
  return (await versionProblem(monitorPath)) ?? { monitorPath, addonPath: join(dir, ADDON) };
}

/**
 * Replaces this process with the monitor. Resolves only if it did not, saying why; isStopping
 * is asked last, so a stop that arrived meanwhile is left to the Node owner.
 */
export async function handOver(plan: HandoverPlan, found: Promise<NativeMonitor | string>, isStopping: () => boolean): Promise<string> {
  const native = await found;
  if (typeof native === "string") return native;
  let addon: ExecAddon;
  try {
    addon = createRequire(native.addonPath)(native.addonPath) as ExecAddon;
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
    addon.execKeepingFds(native.monitorPath, monitorArgv({ ...plan, machine, listenFd }), env, keep);
    return "execve returned";
  } catch (error) {
    return `the hand-over failed: ${errorMessage(error)}`;
  } finally {
    addon.releaseSignals(); // reached only when this process stays the owner
  }
}
