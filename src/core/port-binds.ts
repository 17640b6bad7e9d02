// `heyvm bind` / `unbind` of a local sandbox: a guest port kept reachable on the host's 127.0.0.1.
// A port the backend forwarded at boot (create --open-port/--port) already is; any other is
// carried by a relay process (`heyvm __port_relay <id> <port>`, core/port-relay.ts) that lives
// while the sandbox runs and is started again by its next start. The binds are recorded in the
// sandbox's record folder (binds.json, heyvm's own: the sandbox never sees it), each with the
// host port it keeps and the relay's pid while one runs.
import { spawn } from "node:child_process";
import { openSync, closeSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ConflictError, NotFoundError, OperationFailedError } from "../shared/errors.js";
import { freePort } from "../shared/free-port.js";
import { heyvmBin } from "../shared/heyvm-bin.js";
import { isObject, readJsonFile, writeJsonFile } from "../shared/json.js";
import type { HeyoHome } from "../state/home.js";
import { withLock } from "../state/lock.js";
import { processStatus } from "../state/status.js";
import type { SandboxEntry } from "./catalog.js";
import { bootForward } from "./port-relay.js";

/** A bound port as `bind --format json` and `get` show it. */
export interface PortBinding {
  port: number;
  host_port: number;
  url: string;
  private: boolean;
  /** boot: forwarded by the backend since the sandbox started; relay: carried by heyvm's relay. */
  via: "boot" | "relay";
  /** Whether it answers now (a relay of a stopped sandbox starts with it). */
  active: boolean;
}

interface BindRecord {
  hostPort: number;
  private: boolean;
  pid: number | null;
}

const LOCK_WAIT_MS = 15_000;
const RELAY_READY_MS = 15_000;

function bindsPath(entry: SandboxEntry): string {
  return entry.dir.bindsPath;
}

function readBinds(entry: SandboxEntry): Map<number, BindRecord> {
  const raw = readJsonFile(bindsPath(entry)) ?? {};
  const binds = new Map<number, BindRecord>();
  for (const [key, value] of Object.entries(raw)) {
    const port = Number(key);
    if (!Number.isInteger(port) || !isObject(value) || typeof value.hostPort !== "number") continue;
    binds.set(port, { hostPort: value.hostPort, private: value.private === true, pid: typeof value.pid === "number" ? value.pid : null });
  }
  return binds;
}

function writeBinds(entry: SandboxEntry, binds: Map<number, BindRecord>): void {
  writeJsonFile(bindsPath(entry), Object.fromEntries([...binds].map(([port, record]) => [String(port), record])), 0o600);
}

function withBinds<T>(home: HeyoHome, entry: SandboxEntry, fn: (binds: Map<number, BindRecord>) => Promise<T>): Promise<T> {
  return withLock(home, `binds:${entry.spec.id}`, LOCK_WAIT_MS, () => fn(readBinds(entry)));
}

/** Whether pid is this sandbox's relay for port (never signal a pid that was reused by something else). */
function isRelay(pid: number | null, entry: SandboxEntry, port: number): pid is number {
  if (pid === null) return false;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    const at = argv.indexOf("__port_relay");
    return at >= 0 && argv[at + 1] === entry.spec.id && argv[at + 2] === String(port);
  } catch {
    return false;
  }
}

function binding(port: number, hostPort: number, isPrivate: boolean, via: PortBinding["via"], active: boolean): PortBinding {
  return { port, host_port: hostPort, url: `http://127.0.0.1:${hostPort}`, private: isPrivate, via, active };
}

/**
 * Starts the relay process detached and returns once it listens (its first line says on which
 * port: the recorded one, or a free one if that was taken meanwhile). Called under the binds lock;
 * the relay itself takes it only when it ends (to clear its pid).
 */
async function spawnRelay(entry: SandboxEntry, port: number, hostPort: number): Promise<{ pid: number; hostPort: number }> {
  const logPath = entry.dir.relayLogPath(port);
  const log = openSync(logPath, "a");
  const child = spawn(process.execPath, [heyvmBin(), "__port_relay", entry.spec.id, String(port), String(hostPort)], {
    detached: true,
    stdio: ["ignore", "pipe", log],
    cwd: "/",
    // the HEYO_HOME this sandbox lives in, whatever the caller's environment says (as for its owner)
    env: { ...process.env, HEYO_HOME: resolve(entry.dir.root, "..", "..") },
  });
  closeSync(log);
  try {
    const listening = await new Promise<number>((resolve, reject) => {
      let text = "";
      const timer = setTimeout(() => reject(new OperationFailedError(`the relay of port ${port} did not start within ${RELAY_READY_MS / 1000} s`, `see ${logPath}`)), RELAY_READY_MS);
      child.stdout?.setEncoding("utf8");
      child.stdout?.on("data", (chunk: string) => {
        text += chunk;
        const match = /^listening (\d+)\n/.exec(text);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        reject(new OperationFailedError(`the relay of port ${port} ended at once (exit ${code ?? "by signal"})`, `see ${logPath}`));
      });
    });
    if (child.pid === undefined) throw new OperationFailedError(`the relay of port ${port} could not be started`);
    return { pid: child.pid, hostPort: listening };
  } catch (error) {
    child.kill("SIGTERM");
    throw error;
  } finally {
    child.stdout?.destroy();
    child.removeAllListeners("exit");
    child.unref();
  }
}

/** Starts the relay of a recorded bind unless one runs; updates the record (under the lock). */
async function ensureRelay(entry: SandboxEntry, port: number, record: BindRecord): Promise<void> {
  if (isRelay(record.pid, entry, port)) return;
  const started = await spawnRelay(entry, port, record.hostPort);
  record.pid = started.pid;
  record.hostPort = started.hostPort;
}

export interface BindRequest {
  port: number;
  private: boolean;
}

export async function bindPort(home: HeyoHome, entry: SandboxEntry, request: BindRequest): Promise<PortBinding> {
  const boot = await bootForward(entry, request.port);
  if (boot) return binding(request.port, boot.port, request.private, "boot", true);
  return withBinds(home, entry, async (binds) => {
    const running = processStatus(entry.dir).status !== "stopped";
    const existing = binds.get(request.port);
    const record: BindRecord = { hostPort: existing?.hostPort ?? (await freePort()), private: request.private, pid: existing?.pid ?? null };
    binds.set(request.port, record);
    try {
      if (running) await ensureRelay(entry, request.port, record);
    } finally {
      writeBinds(entry, binds);
    }
    return binding(request.port, record.hostPort, record.private, "relay", running);
  });
}

export interface UnbindResult {
  port: number;
  host_port: number;
  was_active: boolean;
}

export async function unbindPort(home: HeyoHome, entry: SandboxEntry, port: number): Promise<UnbindResult> {
  return withBinds(home, entry, async (binds) => {
    const record = binds.get(port);
    if (!record) {
      if (entry.spec.ports.includes(port)) {
        throw new ConflictError(`port ${port} of ${entry.spec.id} was opened when it was created (--open-port/--port): its backend forwards it from boot`, "it stays while the sandbox exists");
      }
      throw new NotFoundError(`port ${port} of ${entry.spec.id} is not bound`, `see \`heyvm get ${entry.spec.id}\``);
    }
    const active = isRelay(record.pid, entry, port);
    if (isRelay(record.pid, entry, port)) process.kill(record.pid, "SIGTERM");
    binds.delete(port);
    writeBinds(entry, binds);
    return { port, host_port: record.hostPort, was_active: active };
  });
}

/** Every exposed port of a local sandbox: the boot forwards and the binds. */
export async function portBindings(entry: SandboxEntry): Promise<PortBinding[]> {
  const found: PortBinding[] = [];
  for (const port of entry.spec.ports) {
    const boot = await bootForward(entry, port);
    found.push(boot ? binding(port, boot.port, false, "boot", true) : binding(port, entry.spec.hostPorts[String(port)] ?? 0, false, "boot", false));
  }
  for (const [port, record] of readBinds(entry)) {
    if (!entry.spec.ports.includes(port)) found.push(binding(port, record.hostPort, record.private, "relay", isRelay(record.pid, entry, port)));
  }
  return found.sort((a, b) => a.port - b.port);
}

/** After a start: the relays of the sandbox's binds again (core/lifecycle.ts). */
export async function restoreBinds(home: HeyoHome, entry: SandboxEntry): Promise<void> {
  if (readBinds(entry).size === 0) return;
  await withBinds(home, entry, async (binds) => {
    try {
      for (const [port, record] of binds) if (!entry.spec.ports.includes(port)) await ensureRelay(entry, port, record);
    } finally {
      writeBinds(entry, binds);
    }
  });
}

/**
 * Before a sandbox's record folder goes (rm): its relays are ended and waited for, so that none
 * still writes the record (its pid's clearing) while the folder is being removed.
 */
export async function endRelays(entry: SandboxEntry, waitMs = 3_000): Promise<void> {
  const alive = () => [...readBinds(entry)].filter(([port, record]) => isRelay(record.pid, entry, port)).map(([, record]) => record.pid as number);
  for (const pid of alive()) process.kill(pid, "SIGTERM");
  const deadline = Date.now() + waitMs;
  while (alive().length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  for (const pid of alive()) process.kill(pid, "SIGKILL");
}

/** The relay process's end: its pid leaves the record (the bind stays for the next start). */
export async function relayEnded(home: HeyoHome, entry: SandboxEntry, port: number, pid: number): Promise<void> {
  await withBinds(home, entry, async (binds) => {
    const record = binds.get(port);
    if (!record || record.pid !== pid) return;
    record.pid = null;
    writeBinds(entry, binds);
  });
}
