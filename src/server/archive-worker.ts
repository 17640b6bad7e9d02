// The worker thread that runs archive jobs (archive-unpack.ts) off the server's event loop, one
// at a time: archive-workers.ts posts {id, job} and reads {id, result} back. A worker started
// for checks lowers its own thread's priority first: checking an archive (or refusing a bomb)
// is background work that must not take CPU from the requests the server is answering.
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import { errorMessage } from "../shared/errors.js";
import { runArchiveJob, type ArchiveJob, type ArchiveJobResult } from "./archive-unpack.js";

/** On Linux a thread has its own nice value: this sets this worker thread's, not the server's. */
function lowerThisThreadsPriority(nice: number): void {
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, nice);
  } catch {
    // not Linux, or not allowed: the job runs at the usual priority
  }
}

const { nice } = (workerData ?? {}) as { nice?: number };
if (nice !== undefined) lowerThisThreadsPriority(nice);

parentPort?.on("message", (message: { id: number; job: ArchiveJob }) => {
  runArchiveJob(message.job)
    .catch((error: unknown): ArchiveJobResult => ({ ok: false, failure: errorMessage(error) }))
    .then((result) => parentPort?.postMessage({ id: message.id, result }));
});
