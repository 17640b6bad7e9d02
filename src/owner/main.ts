// `heyvm __sandbox_owner <id>`: the small process that owns one sandbox. It boots the machine
// through its backend, reports readiness on fd 3 to whoever started it, writes owner.json, serves
// owner.sock, and shuts the machine down on SIGTERM, a stop request, or (attached mode) when the
// CLI that started it goes away. The machine is its child and cannot outlive it. Once the sandbox
// is ready, this Node process turns into the native owner monitor (hand-over.ts), which carries
// on with the same pid; if that cannot happen it stays and does the same work itself. Its life is
// a state machine: the phases and the one transition table are in phases.ts, the class Owner below
// performs what the table says.
import { errorMessage } from "../shared/errors.js";
import { closeSync, fstatSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import type { Server } from "node:net";
import { ownerTransition, OWNER_TRANSITIONS, recordedState, type OwnerEffect, type OwnerEvent, type OwnerPhase } from "./phases.js";
import { loadBackend } from "../backends/registry.js";
import { canStopGracefully, type Backend, type RunningMachine } from "../backends/types.js";
import { heyvmBin } from "../shared/heyvm-bin.js";
import { heyoHome, type HeyoHome } from "../state/home.js";
import { currentBootId, processStartTime } from "../state/liveness.js";
import { sandboxStatus } from "../state/status.js";
import { readSpec, writeExit, writeOwner, type OwnerMode, type OwnerRecord, type SandboxSpec } from "../state/records.js";
import { SandboxDir } from "../state/sandbox-dir.js";
import { STOP_GRACE_MS, serveControl } from "../shared/owner-protocol.js";
import { findNativeMonitor, handOver } from "./hand-over.js";
import { OwnerLog } from "./log.js";
import { gitSyncTrigger, runGitSyncOnce, watchGitSync, type GitSyncTrigger } from "./git-watch.js";
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
  traceStep("sandbox.json read");
  const log = new OwnerLog(dir.logPath);
  log.line("owner", `owner ${process.pid} starting sandbox ${id} (${spec.name}) on ${spec.backend}, ${mode}`);
  if ((await sandboxStatus(dir, 500)).status !== "stopped") {
    log.line("owner", "another owner is already running this sandbox; exiting");
    tellStarter("failed: another owner is already running this sandbox");
    return 1;
  }
  return new Owner({ home, dir, spec, mode, log, onReady }).run();
}

interface OwnerSetting {
  home: HeyoHome;
  dir: SandboxDir;
  spec: SandboxSpec;
  mode: OwnerMode;
  log: OwnerLog;
  onReady: ReadyHook | undefined;
}

/**
 * One owner's life: `dispatch` moves it through the phases by the table in phases.ts and performs
 * the effects the table names; everything else here is those effects and the boot that starts it.
 */
class Owner {
  private phase: OwnerPhase = "starting";
  private machine: RunningMachine | undefined;
  private backend: Backend | undefined;
  private server: Server | undefined;
  /** Why it stops (the first stop request), and why it ends otherwise (boot failure, machine end). */
  private stopReason = "";
  private endReason = "";
  private readonly bootAborter = new AbortController();
  private finish: (code: number) => void = () => undefined;
  private readonly finished = new Promise<number>((resolve) => (this.finish = resolve));
  private readonly startedAt = new Date().toISOString();
  /** The sandbox is stopped when its TTL (`create --ttl-seconds`) runs out, counted from now. */
  private readonly ttlDeadline: number | undefined;
  /** A sandbox with its own git store: its branch is synced with the host's while it runs. */
  private readonly gitSync: GitSyncTrigger | undefined;
  private stopGitWatch: () => void = () => undefined;
  // which monitor to hand over to, and whether it speaks this heyvm's API version: asked during the boot
  private readonly nativeMonitor = process.env.HEYVM_OWNER_MONITOR === "0" ? undefined : findNativeMonitor();

  constructor(private readonly setting: OwnerSetting) {
    this.ttlDeadline = setting.spec.ttlSeconds === null ? undefined : Date.now() + setting.spec.ttlSeconds * 1000;
    this.gitSync = gitSyncTrigger(setting.dir, setting.spec);
  }

  /** The one place the phase changes. */
  private dispatch(event: OwnerEvent): void {
    const { next, effects } = ownerTransition(this.phase, event);
    if (next !== this.phase) traceStep(`${this.phase} → ${next} (${event})`);
    this.phase = next;
    for (const effect of effects) this.effects[effect]();
  }

  private readonly effects: Record<OwnerEffect, () => void> = {
    abortBoot: () => this.bootAborter.abort(), // a long boot (a VM) gives up and cleans up after itself
    becomeReady: () => void this.becomeReady(),
    recordStopping: () => this.machine && writeOwner(this.setting.dir, this.record()),
    stopMachine: () => void this.stopMachine(),
    tellStoppedWhileStarting: () => tellStarter("failed: stopped while starting"),
    reportBootFailure: () => {
      this.setting.log.line("owner", this.endReason);
      tellStarter(`failed: ${this.endReason}`);
    },
    finishStopped: () => void this.finishStopped(),
    finishFailed: () => this.cleanUp(this.endReason, 1),
  };

  private requestStop(reason: string): void {
    if (OWNER_TRANSITIONS[this.phase].stopRequested) {
      this.stopReason = reason;
      this.setting.log.line("owner", `stopping: ${reason}`);
    }
    this.dispatch("stopRequested");
  }

  private record(): OwnerRecord {
    const { spec, mode } = this.setting;
    const info = this.machine?.info;
    const state = recordedState(this.phase);
    return { pid: process.pid, pidStartTime: processStartTime(process.pid), bootId: currentBootId(), startedAt: this.startedAt, state, mode, backend: spec.backend, guestIp: info?.guestIp ?? null, ssh: info?.ssh ?? null, machine: info?.machine ?? {} };
  }

  /** Serves owner.sock, writes the records that say it is starting, and boots the machine. */
  async run(): Promise<number> {
    const { home, dir, spec, mode, log } = this.setting;
    for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(signal, () => this.requestStop(`received ${signal}`));
    if (mode === "attached") {
      for (const end of ["end", "close"]) process.stdin.on(end, () => this.requestStop("the attached heyvm command went away"));
      process.stdin.resume();
    }
    try {
      const status = () => ({ ok: true as const, id: spec.id, pid: process.pid, state: recordedState(this.phase) });
      this.server = await serveControl(dir.socketPath, { status, stop: (reason) => this.requestStop(reason) });
      traceStep("owner.sock served");
      rmSync(dir.launchPath, { force: true }); // an earlier owner's; the launcher would not use it anyway
      // the live marker first: whoever sees owner.json must find the sandbox in the live index
      mkdirSync(home.live, { recursive: true });
      writeFileSync(dir.liveMarker, "");
      writeOwner(dir, this.record());
      traceStep("owner.json written (starting)");
      // whatever an earlier owner left running was reaped by ensureOwner, under the same lock
      this.backend = await loadBackend(spec.backend);
      traceStep(`${spec.backend} backend loaded`);
      this.machine = await this.backend.boot({ home, dir, spec, reporter: log.reporter(), console: (chunk) => log.console(chunk), signal: this.bootAborter.signal });
    } catch (error) {
      this.endReason = `boot failed: ${errorMessage(error)}`;
      this.dispatch("bootFailed");
      return this.finished;
    }
    traceStep("booted");
    this.dispatch("booted");
    return this.finished;
  }

  /** running: owner.json, the ready hook, the TTL, the hand-over; then the starter is answered. */
  private async becomeReady(): Promise<void> {
    const { dir, log, onReady } = this.setting;
    const machine = this.machine;
    if (!machine) return;
    writeOwner(dir, this.record());
    traceStep("owner.json written (running)");
    try {
      await onReady?.(dir);
      traceStep("launch record written");
    } catch (error) {
      log.line("owner", `the ready hook failed (exec and list take the Node path): ${errorMessage(error)}`);
    }
    log.line("owner", "sandbox ready");
    this.startTtl();
    traceStep("handing over to the native monitor");
    const problem = await this.becomeMonitor(machine);
    if (problem) log.line("owner", `staying a Node process (uses more memory): ${problem}`);
    if (problem && this.gitSync && this.phase === "running") this.stopGitWatch = watchGitSync(this.gitSync, this.logFd());
    tellStarter(this.phase === "running" ? "ready" : "failed: stopped while starting");
    void machine.exited.then((reason) => {
      if (this.phase !== "running") return; // a stop is ending it
      this.endReason = `machine ended on its own: ${reason}`;
      log.line("owner", this.endReason);
      this.dispatch("machineEnded");
    });
  }

  private startTtl(): void {
    const deadline = this.ttlDeadline;
    if (deadline === undefined) return;
    this.setting.log.line("owner", `its TTL runs out at ${new Date(deadline).toISOString()}`);
    const expire = () => {
      const left = deadline - Date.now();
      if (left <= 0) this.requestStop("its TTL ran out");
      else setTimeout(expire, Math.min(left, 2 ** 31 - 1)).unref(); // timers hold at most ~24 days
    };
    expire();
  }

  /** Turns this process into the native monitor; resolves only if it stays, saying why. */
  private async becomeMonitor(running: RunningMachine): Promise<string> {
    const { dir, spec, mode } = this.setting;
    const { backend, server } = this;
    if (!this.nativeMonitor) return "the hand-over to the native monitor is off (HEYVM_OWNER_MONITOR=0)";
    if (!running.handover || !backend || !canStopGracefully(backend) || !server) return `${spec.backend} machines cannot be handed to the native monitor`;
    const describeMachine = running.handover.bind(running);
    this.setting.log.flush();
    const invocation = {
      id: spec.id,
      server,
      logPath: dir.logPath,
      ownerPath: dir.ownerPath,
      exitPath: dir.exitPath,
      liveMarker: dir.liveMarker,
      changedMarker: dir.changedMarker,
      deadlineEpochMs: this.ttlDeadline,
      socketPath: dir.socketPath,
      readyFd: readinessPipeOpen() ? READY_FD : undefined,
      attached: mode === "attached",
      machine: describeMachine,
      stopCommand: [process.execPath, heyvmBin(), "__sandbox_stop", spec.id],
      gitSync: this.gitSync,
    };
    return handOver(invocation, this.nativeMonitor, () => this.phase !== "running");
  }

  private async stopMachine(): Promise<void> {
    try {
      await this.machine?.stop(STOP_GRACE_MS);
    } catch (error) {
      this.setting.log.line("owner", `stop failed: ${errorMessage(error)}`);
    }
    this.dispatch("machineStopped");
  }

  private async finishStopped(): Promise<void> {
    this.stopGitWatch();
    if (this.gitSync && this.machine) await runGitSyncOnce(this.gitSync, this.logFd()); // the last commits
    this.cleanUp(this.stopReason, 0);
  }

  private logFd(): number | "ignore" {
    try {
      return openSync(this.setting.dir.logPath, "a");
    } catch {
      return "ignore";
    }
  }

  /** The end: exit.json says why; owner.json, the live marker and the socket go. */
  private cleanUp(reason: string, code: number): void {
    const { dir, log } = this.setting;
    log.flush();
    log.line("owner", `exiting: ${reason}`);
    writeExit(dir, { at: new Date().toISOString(), reason });
    rmSync(dir.ownerPath, { force: true });
    rmSync(dir.liveMarker, { force: true });
    this.server?.close();
    rmSync(dir.socketPath, { force: true });
    this.finish(code);
  }
}
