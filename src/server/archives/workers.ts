// A few long-lived worker processes (archive-worker.ts) that run archive jobs away from the
// server's event loop and heap, one job each at a time; jobs beyond them wait their turn. Checks
// run in workers of their own at a low priority (a bomb being refused yields the CPU to everything
// else); unpacking for a deploy runs at the usual one. A worker that runs out of its bounded heap
// ends its job (refused), never the server, and what it allocated goes back to the system.
import { fork, type ChildProcess } from "node:child_process";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import type { ArchiveJob, ArchiveJobResult } from "./unpack.js";

/** Archive jobs at once: each takes a core (and a libuv thread for gunzip) while it runs. */
const CONCURRENT_JOBS = Math.max(1, Math.min(2, availableParallelism()));

/** A worker's heap: the names of a million entries fit; more ends the job, not the server. */
const WORKER_HEAP_MB = 512;

/** An idle worker is ended after this long (starting one costs tens of milliseconds). */
const IDLE_MS = 10_000;

/** The nice value of the processes that check archives (0 is normal, 19 the lowest). */
const CHECK_NICE = 15;

type WorkerKind = ArchiveJob["op"];

interface PooledWorker {
  worker: ChildProcess;
  kind: WorkerKind;
  /** It failed or exited: never handed out again. */
  dead: boolean;
  idleTimer: NodeJS.Timeout | undefined;
  /** The job under way: settled by its answer, or by the worker's death. */
  settle: ((result: ArchiveJobResult) => void) | undefined;
}

/** The pool; `run` resolves with the job's result whatever happens to its worker. */
export class ArchiveWorkers {
  private readonly idle: Record<WorkerKind, PooledWorker[]> = { check: [], extract: [] };
  private live = 0;
  private nextId = 0;
  private readonly waiting: Array<() => void> = [];

  async run(job: ArchiveJob): Promise<ArchiveJobResult> {
    const pooled = await this.acquire(job.op);
    return new Promise((resolve) => {
      pooled.settle = (result) => {
        pooled.settle = undefined;
        this.release(pooled);
        resolve(result);
      };
      pooled.worker.ref(); // a job under way keeps the server alive; an idle worker does not
      pooled.worker.channel?.ref();
      pooled.worker.send({ id: ++this.nextId, job });
    });
  }

  private async acquire(kind: WorkerKind): Promise<PooledWorker> {
    for (;;) {
      const idle = this.idle[kind].pop();
      if (idle) {
        clearTimeout(idle.idleTimer);
        return idle;
      }
      if (this.live < CONCURRENT_JOBS) return this.spawn(kind);
      const other = this.idle[kind === "check" ? "extract" : "check"].shift();
      if (other) this.retire(other); // its exit makes room for a worker of this kind
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private spawn(kind: WorkerKind): PooledWorker {
    this.live += 1;
    const worker = fork(fileURLToPath(new URL("./archive-worker.js", import.meta.url)), [], {
      execArgv: [`--max-old-space-size=${WORKER_HEAP_MB}`],
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...(kind === "check" ? { HEYVM_ARCHIVE_NICE: String(CHECK_NICE) } : {}) },
      stdio: ["ignore", "ignore", "ignore", "ipc"], // V8's own report of a full heap is not for the server's log
      serialization: "advanced",
    });
    const pooled: PooledWorker = { worker, kind, dead: false, idleTimer: undefined, settle: undefined };
    worker.on("message", (message: { result: ArchiveJobResult }) => pooled.settle?.(message.result));
    worker.on("error", (error: Error) => {
      pooled.dead = true;
      pooled.settle?.({ ok: false, failure: error.message });
    });
    worker.on("exit", (code, signal) => {
      pooled.dead = true;
      this.live -= 1;
      const idle = this.idle[pooled.kind];
      const at = idle.indexOf(pooled);
      if (at >= 0) idle.splice(at, 1);
      clearTimeout(pooled.idleTimer);
      // V8 ends a process whose heap is full with SIGABRT (or SIGTRAP): the archive asked too much
      const outOfHeap = signal === "SIGABRT" || signal === "SIGTRAP" || code === 134;
      pooled.settle?.(
        outOfHeap
          ? { ok: false, rejected: `the archive has more entries than this server can check in ${WORKER_HEAP_MB} MB` }
          : { ok: false, failure: `the archive worker exited (${signal ?? `code ${code}`})` },
      );
      this.waiting.shift()?.();
    });
    return pooled;
  }

  /** Ends an idle worker (already out of the idle list): it is never handed out again. */
  private retire(pooled: PooledWorker): void {
    clearTimeout(pooled.idleTimer);
    pooled.dead = true;
    pooled.worker.kill("SIGKILL");
  }

  private release(pooled: PooledWorker): void {
    if (pooled.dead) return; // its exit makes room for the next job
    pooled.worker.unref();
    pooled.worker.channel?.unref();
    pooled.idleTimer = setTimeout(() => {
      const idle = this.idle[pooled.kind];
      if (idle.includes(pooled)) idle.splice(idle.indexOf(pooled), 1);
      this.retire(pooled);
    }, IDLE_MS);
    pooled.idleTimer.unref();
    this.idle[pooled.kind].push(pooled);
    this.waiting.shift()?.();
  }
}
