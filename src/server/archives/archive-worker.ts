// The child process that runs archive jobs (unpack.ts) away from the server, one at a
// time: workers.ts sends {id, job} over the IPC channel and reads {id, result} back. A
// process, not a thread: whatever a hostile archive makes it allocate is given back to the system
// when it ends, never left in the server's own heap. A process started for checks lowers its own
// priority first: checking an archive (or refusing a bomb) is background work that must not take
// CPU from the requests the server is answering.
import { setPriority } from "node:os";
import { errorMessage } from "../../shared/errors.js";
import { runArchiveJob, type ArchiveJob, type ArchiveJobResult } from "./unpack.js";

const nice = Number(process.env.HEYVM_ARCHIVE_NICE);
if (Number.isInteger(nice) && nice > 0) {
  try {
    setPriority(nice); // this (main) thread; threads started after it inherit its nice value
  } catch {
    // not allowed: the job runs at the usual priority
  }
}

process.on("message", (message: { id: number; job: ArchiveJob }) => {
  runArchiveJob(message.job)
    .catch((error: unknown): ArchiveJobResult => ({ ok: false, failure: errorMessage(error) }))
    .then((result) => process.send?.({ id: message.id, result }));
});
// the server's end of the channel closing ends this process
process.on("disconnect", () => process.exit(0));
