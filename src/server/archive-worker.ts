// The worker thread that runs archive jobs (archive-unpack.ts) off the server's event loop, one
// at a time: extract.ts posts {id, job} and reads {id, result} back.
import { parentPort } from "node:worker_threads";
import { errorMessage } from "../shared/errors.js";
import { runArchiveJob, type ArchiveJob, type ArchiveJobResult } from "./archive-unpack.js";

parentPort?.on("message", (message: { id: number; job: ArchiveJob }) => {
  runArchiveJob(message.job)
    .catch((error: unknown): ArchiveJobResult => ({ ok: false, failure: errorMessage(error) }))
    .then((result) => parentPort?.postMessage({ id: message.id, result }));
});
