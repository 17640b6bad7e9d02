// The server's memory after a load: most of what a burst of execs or a flooding shell took is
// free again but still held, by V8 (its young generation stays at the size the load grew it to)
// and by glibc's malloc (freed pages stay in its arenas). Measured after the issue-19 load (a
// non-reading shell client, 16 execs of 40 MB, a streamed exec): RSS 75 MiB at start, 130–150
// MiB for good after. Once it has grown, the server hands those pages back every little while
// (native/memory-addon.cc): back to about its start once the load ends.
import { createRequire } from "node:module";
import { nativeBinary } from "../shared/native-binary.js";
import type { LogLine } from "./context.js";

const ADDON = "heyvm_memory.node";

interface MemoryAddon {
  returnFreeMemory(): boolean;
}

/** How often the server looks at how much it holds. */
const CHECK_MS = 5000;
/** How far RSS must be above the least it has held before it gives memory back. */
const GROWTH_BYTES = 16 * 1024 * 1024;
/** The shortest time between two settlings; doubled (up to the longest) while one gives back little. */
const MIN_GAP_MS = 10_000;
const MAX_GAP_MS = 5 * 60_000;
/** What a settling must give back for the gap to stay short. */
const WORTHWHILE_BYTES = 4 * 1024 * 1024;

const mib = (bytes: number): string => `${Math.round(bytes / 1024 / 1024)} MiB`;

function loadAddon(): MemoryAddon | undefined {
  const path = nativeBinary(ADDON);
  return path ? (createRequire(import.meta.url)(path) as MemoryAddon) : undefined;
}

/**
 * Every CHECK_MS: when RSS is GROWTH_BYTES above the least the server has held and the last
 * settling is long enough ago, gives the free memory back. A settling costs a few full
 * collections of a small heap (milliseconds), so it need not wait for the server to be idle (a
 * detached or slow client can keep it busy for long); one that gives back little (the memory is
 * in use: many open sessions) makes the next wait longer. Returns the stop.
 */
export function settleMemoryWhenGrown(log: LogLine): () => void {
  const addon = loadAddon();
  if (!addon) {
    log(`memory: ${ADDON} is not built (npm run build), so the server keeps what a load took`);
    return () => undefined;
  }
  let floor = process.memoryUsage.rss();
  let gapMs = MIN_GAP_MS;
  let lastAt = 0;
  const timer = setInterval(() => {
    const rss = process.memoryUsage.rss();
    floor = Math.min(floor, rss);
    if (rss < floor + GROWTH_BYTES || Date.now() - lastAt < gapMs) return;
    addon.returnFreeMemory();
    const after = process.memoryUsage.rss();
    floor = Math.min(floor, after);
    lastAt = Date.now();
    gapMs = rss - after >= WORTHWHILE_BYTES ? MIN_GAP_MS : Math.min(gapMs * 2, MAX_GAP_MS);
    log(`memory: RSS ${mib(rss)} -> ${mib(after)} (free memory given back)`);
  }, CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
