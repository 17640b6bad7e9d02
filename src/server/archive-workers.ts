// A few long-lived worker threads (archive-worker.ts) that run archive jobs off the server's
// event loop, one job each at a time; jobs beyond them wait their turn. A worker that runs out of
// its bounded heap ends its job (refused), never the server.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { ArchiveJob, ArchiveJobResult } from "./archive-unpack.js";

/** Archive jobs at once: each takes a core (and a libuv thread for gunzip) while it runs. */
const CONCURRENT_JOBS = Math.max(1, Math.min(2, availableParallelism()));

/** A worker's heap: the names of a million entries fit; more ends the job, not the server. */
const WORKER_HEAP_MB = 512;

/** An idle worker is ended after this long (starting one costs tens of milliseconds). */
const IDLE_MS = 10_000;

interface PooledWorker {
  worker: Worker;
  /** It failed or exited: never handed out again. */
  dead: boolean;
  idleTimer: NodeJS.Timeout | undefined;
  /** The job under way: settled by its answer, or by the worker's death. */
  settle: ((result: ArchiveJobResult) => void) | undefined;
}

/** The pool; `run` resolves with the job's result whatever happens to its worker. */
export class ArchiveWorkers {
  private readonly idle: PooledWorker[] = [];
  private live = 0;
  private nextId = 0;
  private readonly waiting: Array<() => void> = [];

  async run(job: ArchiveJob): Promise<ArchiveJobResult> {
    const pooled = await this.acquire();
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

  private async acquire(): Promise<PooledWorker> {
    for (;;) {
      const idle = this.idle.pop();
      if (idle) {
        clearTimeout(idle.idleTimer);
        return idle;
      }
      if (this.live < CONCURRENT_JOBS) return this.spawn();
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private spawn(): PooledWorker {
    this.live += 1;
    const worker = new Worker(new URL("./archive-worker.js", import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } });
    const pooled: PooledWorker = { worker, dead: false, idleTimer: undefined, settle: undefined };
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
      const at = this.idle.indexOf(pooled);
      if (at >= 0) this.idle.splice(at, 1);
      clearTimeout(pooled.idleTimer);
      pooled.settle?.({ ok: false, failure: `the archive worker exited with code ${code}` });
      this.waiting.shift()?.();
    });
    return pooled;
  }

  private release(pooled: PooledWorker): void {
    if (pooled.dead) return; // its exit makes room for the next job
    pooled.worker.unref();
    pooled.idleTimer = setTimeout(() => void pooled.worker.terminate(), IDLE_MS);
    pooled.idleTimer.unref();
    this.idle.push(pooled);
    this.waiting.shift()?.();
  }
}
