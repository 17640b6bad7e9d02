// Workspace archives come from clients and are not trusted: every entry must sit under
// workspace/, be a plain file, folder, or link that stays inside, and never go through a link
// (rules.ts). An archive is checked when it is finalized (so the client hears at once)
// and again, entry by entry, while it is unpacked. Both are one streaming pass in a worker
// thread (unpack.ts), bounded in unpacked size and entry count, so a decompression bomb
// costs the server neither memory nor its event loop; at most a few run at a time.
import type { ServerConfig } from "../config.js";
import type { ExtractLimits } from "./rules.js";
import type { ArchiveJob } from "./unpack.js";
import { ArchiveWorkers } from "./workers.js";

export type { ExtractLimits } from "./rules.js";
export { PERMISSION_BITS } from "./unpack.js";

/** The archive breaks a rule; the message says which entry and why (answered as 422). */
export class ArchiveRejectedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ArchiveRejectedError";
  }
}

/** The limits an archive is held to on this server (maxEntries against a flood of tiny files). */
export function extractLimitsOf(config: Pick<ServerConfig, "maxExtractedBytes" | "maxArchiveEntries">): ExtractLimits {
  return { maxBytes: config.maxExtractedBytes, maxEntries: config.maxArchiveEntries };
}

const workers = new ArchiveWorkers();

async function run(job: ArchiveJob): Promise<{ entries: number; bytes: number }> {
  const result = await workers.run(job);
  if (result.ok) return result;
  if ("rejected" in result) throw new ArchiveRejectedError(result.rejected);
  throw new Error(`archive ${job.op} failed: ${result.failure}`);
}

/** Reads the whole archive and refuses it if any entry breaks a rule; returns the entry count. */
export async function checkArchive(file: string, limits: ExtractLimits): Promise<number> {
  return (await run({ op: "check", file, limits })).entries;
}

/** Extracts workspace/… into dest (dest = /workspace); on any refused entry dest is emptied and it throws. */
export async function extractArchive(file: string, dest: string, limits: ExtractLimits): Promise<void> {
  await run({ op: "extract", file, dest, limits });
}
