// A few long-lived worker threads (archive-worker.ts) that run archive jobs off the server's
// event loop, one job each at a time; jobs beyond them wait their turn. Checks run in workers of
// their own at a low priority (a bomb being refused yields the CPU to everything else); unpacking
// for a deploy runs at the usual one. A worker that runs out of its bounded heap ends its job
// (refused), never the server.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { ArchiveJob, ArchiveJobResult } from "./archive-unpack.js";

/** Archive jobs at once: each takes a core (and a libuv thread for gunzip) while it runs. */
const CONCURRENT_JOBS = Math.max(1, Math.min(2, availableParallelism()));

/** A worker's heap: the names of a million entries fit; more ends the job, not the server. */
const WORKER_HEAP_MB = 512;

/** An idle worker is ended after this long (starting one costs tens of milliseconds). */
const IDLE_MS = 10_000;

/** The nice value of the threads that check archives (0 is normal, 19 the lowest). */
const CHECK_NICE = 15;

type WorkerKind = ArchiveJob["op"];

interface PooledWorker {
  worker: Worker;
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
      pooled.worker.ref(); // a job under way keeps the process alive; an idle worker does not
      pooled.worker.postMessage({ id: ++this.nextId, job });
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
    const worker = new Worker(new URL("./archive-worker.js", import.meta.url), {
      workerData: kind === "check" ? { nice: CHECK_NICE } : {},
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
    });
    const pooled: PooledWorker = { worker, kind, dead: false, idleTimer: undefined, settle: undefined };
    worker.on("message", (message: { result: ArchiveJobResult }) => pooled.settle?.(message.result));
    worker.on("error", (error: Error & { code?: string }) => {
      pooled.dead = true;
      pooled.settle?.(
        error.code === "ERR_WORKER_OUT_OF_MEMORY"
          ? { ok: false, rejected: `the archive has more entries than this server can check in ${WORKER_HEAP_MB} MB` }
          : { ok: false, failure: error.message },
      );
    });
    worker.on("exit", (code) => {
      pooled.dead = true;
      this.live -= 1;
      const idle = this.idle[pooled.kind];
      const at = idle.indexOf(pooled);
      if (at >= 0) idle.splice(at, 1);
      clearTimeout(pooled.idleTimer);
      pooled.settle?.({ ok: false, failure: `the archive worker exited with code ${code}` });
      this.waiting.shift()?.();
    });
    return pooled;
  }

  /** Ends an idle worker (already out of the idle list): it is never handed out again. */
  private retire(pooled: PooledWorker): void {
    clearTimeout(pooled.idleTimer);
    pooled.dead = true;
    void pooled.worker.terminate();
  }

  private release(pooled: PooledWorker): void {
    if (pooled.dead) return; // its exit makes room for the next job
    pooled.worker.unref();
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
