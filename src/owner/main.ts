// `heyvm __sandbox_owner <id>`: the small process that owns one sandbox. It boots the machine
// through its backend, reports readiness on fd 3 to whoever started it, writes owner.json, serves
// owner.sock, and shuts the machine down on SIGTERM, a stop request, or (attached mode) when the
// CLI that started it goes away. The machine is its child and cannot outlive it. Once the sandbox
// is ready, this Node process turns into the native owner monitor (hand-over.ts), which carries
// on with the same pid; if that cannot happen it stays and does the same work itself.
import { errorMessage } from "../shared/errors.js";
import { closeSync, fstatSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import type { Server } from "node:net";
import { loadBackend } from "../backends/registry.js";
import { canStopGracefully, type Backend, type RunningMachine } from "../backends/types.js";
import { heyvmBin } from "../shared/heyvm-bin.js";
import { heyoHome } from "../state/home.js";
import { currentBootId, processStartTime } from "../state/liveness.js";
import { sandboxStatus } from "../state/status.js";
import { readSpec, writeExit, writeOwner, type OwnerMode, type OwnerRecord, type OwnerState } from "../state/records.js";
import { SandboxDir } from "../state/sandbox-dir.js";
import { STOP_GRACE_MS, serveControl } from "../shared/owner-protocol.js";
import { findNativeMonitor, handOver } from "./hand-over.js";
import { OwnerLog } from "./log.js";
import { gitSyncTrigger, runGitSyncOnce, watchGitSync } from "./git-watch.js";
import { listenToTrace, traceLine, traceStep, tracing } from "../shared/trace.js";

const READY_FD = 3;

function readinessPipeOpen(): boolean {
  try {
    fstatSync(READY_FD);
    return true;
  } catch {
    return false; // started without a readiness pipe, or it was answered already
  }
}

/** HEYVM_TRACE=1: the owner's steps go to its starter on the readiness pipe (the starter prints them), from node's own start. */
function relayTraceToStarter(): void {
  if (!tracing() || !readinessPipeOpen()) return;
  listenToTrace((event) => {
    if (!readinessPipeOpen()) return listenToTrace(undefined);
    try {
      writeSync(READY_FD, `${traceLine(event)}\n`);
    } catch {
      listenToTrace(undefined); // the starter is gone
    }
  });
  traceStep("node started", performance.timeOrigin);
  traceStep("owner code loaded");
}

function tellStarter(message: string): void {
  if (!readinessPipeOpen()) return;
  try {
    writeSync(READY_FD, `${message}\n`);
    closeSync(READY_FD);
  } catch {
    // the starter is gone; nothing to tell
  }
}

/** What the owner does once its sandbox is ready, before it answers its starter (the CLI passes core's launch record writer). */
export type ReadyHook = (dir: SandboxDir) => Promise<void>;

export async function runOwner(id: string, mode: OwnerMode, onReady?: ReadyHook): Promise<number> {
  relayTraceToStarter();
  const home = heyoHome();
  const dir = new SandboxDir(home, id);
  const spec = readSpec(dir);
  if (!spec) {
    tellStarter(`failed: sandbox ${id} has no readable sandbox.json`);
    return 1;
  }
  const log = new OwnerLog(dir.logPath);
  log.line("owner", `owner ${process.pid} starting sandbox ${id} (${spec.name}) on ${spec.backend}, ${mode}`);
  traceStep("sandbox.json read");
  if ((await sandboxStatus(dir, 500)).status !== "stopped") {
    log.line("owner", "another owner is already running this sandbox; exiting");
    tellStarter("failed: another owner is already running this sandbox");
    return 1;
  }

  let state: OwnerState = "starting";
  let machine: RunningMachine | undefined;
  let backend: Backend | undefined;
  let server: Server | undefined;
  let stopping: Promise<void> | undefined;
  let finish: (code: number) => void = () => undefined;
  let bootSettled: () => void = () => undefined;
  const booted = new Promise<void>((resolve) => (bootSettled = resolve));
  const bootAborter = new AbortController();
  const finished = new Promise<number>((resolve) => (finish = resolve));
  const record = (): OwnerRecord => ({
    pid: process.pid,
    pidStartTime: processStartTime(process.pid),
    bootId: currentBootId(),
    startedAt,
    state,
    mode,
    backend: spec.backend,
    guestIp: machine?.info.guestIp ?? null,
    ssh: machine?.info.ssh ?? null,
    machine: machine?.info.machine ?? {},
  });
  const startedAt = new Date().toISOString();
  /** The sandbox is stopped when its TTL (`create --ttl-seconds`) runs out, counted from now. */
  const ttlDeadline = spec.ttlSeconds === null ? undefined : Date.now() + spec.ttlSeconds * 1000;
  /** A sandbox with its own git store: its branch is synced with the host's while it runs. */
  const gitSync = gitSyncTrigger(dir, spec);
  let stopGitWatch: () => void = () => undefined;
  const logFd = (): number | "ignore" => {
    try {
      return openSync(dir.logPath, "a");
    } catch {
      return "ignore";
    }
  };

  const cleanUp = (reason: string, code: number) => {
    log.flush();
    log.line("owner", `exiting: ${reason}`);
    writeExit(dir, { at: new Date().toISOString(), reason });
    rmSync(dir.ownerPath, { force: true });
    rmSync(dir.liveMarker, { force: true });
    server?.close();
    rmSync(dir.socketPath, { force: true });
    finish(code);
  };

  const stop = (reason: string): Promise<void> => {
    if (stopping) return stopping;
    log.line("owner", `stopping: ${reason}`);
    state = "stopping";
    if (machine) writeOwner(dir, record());
    if (!machine) bootAborter.abort(); // a long boot (a VM) gives up and cleans up after itself
    stopping = (async () => {
      await booted; // a stop during boot waits for the machine, so it is never left behind
      try {
        await machine?.stop(STOP_GRACE_MS);
      } catch (error) {
        log.line("owner", `stop failed: ${errorMessage(error)}`);
      }
      stopGitWatch();
      if (gitSync && machine) await runGitSyncOnce(gitSync, logFd()); // the last commits
      cleanUp(reason, 0);
    })();
    return stopping;
  };

  // which monitor to hand over to, and whether it speaks this heyvm's API version: asked during the boot
  const nativeMonitor = process.env.HEYVM_OWNER_MONITOR === "0" ? undefined : findNativeMonitor();

  /** Turns this process into the native monitor; resolves only if it stays, saying why. */
  const becomeMonitor = async (running: RunningMachine, booter: Backend | undefined, control: Server | undefined): Promise<string> => {
    if (!nativeMonitor) return "the hand-over to the native monitor is off (HEYVM_OWNER_MONITOR=0)";
    if (!running.handover || !booter || !canStopGracefully(booter) || !control) return `${spec.backend} machines cannot be handed to the native monitor`;
    const describeMachine = running.handover.bind(running);
    log.flush();
    return handOver(
      {
        id,
        server: control,
        logPath: dir.logPath,
        ownerPath: dir.ownerPath,
        exitPath: dir.exitPath,
        liveMarker: dir.liveMarker,
        changedMarker: dir.changedMarker,
        deadlineEpochMs: ttlDeadline,
        socketPath: dir.socketPath,
        readyFd: readinessPipeOpen() ? READY_FD : undefined,
        attached: mode === "attached",
        machine: describeMachine,
        stopCommand: [process.execPath, heyvmBin(), "__sandbox_stop", id],
        gitSync,
      },
      nativeMonitor,
      () => stopping !== undefined,
    );
  };

  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    process.on(signal, () => void stop(`received ${signal}`));
  }
  if (mode === "attached") {
    process.stdin.on("end", () => void stop("the attached heyvm command went away"));
    process.stdin.on("close", () => void stop("the attached heyvm command went away"));
    process.stdin.resume();
  }

  try {
    server = await serveControl(dir.socketPath, {
      status: () => ({ ok: true, id, pid: process.pid, state }),
      stop: (reason) => void stop(reason),
    });
    traceStep("owner.sock served");
    rmSync(dir.launchPath, { force: true }); // an earlier owner's; the launcher would not use it anyway
    // the live marker first: whoever sees owner.json must find the sandbox in the live index
    mkdirSync(home.live, { recursive: true });
    writeFileSync(dir.liveMarker, "");
    writeOwner(dir, record());
    // whatever an earlier owner left running was reaped by ensureOwner, under the same lock
    traceStep("owner.json written (starting)");
    backend = await loadBackend(spec.backend);
    traceStep(`${spec.backend} backend loaded`);
    const reporter = log.reporter();
    machine = await backend.boot({ home, dir, spec, reporter, console: (chunk) => log.console(chunk), signal: bootAborter.signal });
  } catch (error) {
    bootSettled();
    if (stopping) {
      tellStarter("failed: stopped while starting");
      return finished;
    }
    const reason = `boot failed: ${errorMessage(error)}`;
    log.line("owner", reason);
    tellStarter(`failed: ${reason}`);
    cleanUp(reason, 1);
    return finished;
  }

  bootSettled();
  if (!stopping) {
    traceStep("booted");
    state = "running";
    writeOwner(dir, record());
    traceStep("owner.json written (running)");
    try {
      await onReady?.(dir);
      traceStep("launch record written");
    } catch (error) {
      log.line("owner", `the ready hook failed (exec and list take the Node path): ${errorMessage(error)}`);
    }
    log.line("owner", "sandbox ready");
    if (ttlDeadline !== undefined) {
      log.line("owner", `its TTL runs out at ${new Date(ttlDeadline).toISOString()}`);
      const expire = () => {
        const left = ttlDeadline - Date.now();
        if (left <= 0) void stop("its TTL ran out");
        else setTimeout(expire, Math.min(left, 2 ** 31 - 1)).unref(); // timers hold at most ~24 days
      };
      expire();
    }
    traceStep("handing over to the native monitor");
    const problem = await becomeMonitor(machine, backend, server);
    if (problem) log.line("owner", `staying a Node process (uses more memory): ${problem}`);
    if (problem && gitSync && !stopping) stopGitWatch = watchGitSync(gitSync, logFd());
  }
  tellStarter(stopping ? "failed: stopped while starting" : "ready");
  void machine.exited.then((reason) => {
    if (!stopping) {
      log.line("owner", `machine ended on its own: ${reason}`);
      cleanUp(`machine ended on its own: ${reason}`, 1);
    }
  });
  return finished;
}
