// The process facts status is derived from (status.ts): this boot's id, a process's start time,
// and whether a recorded pid is still the very process that was recorded.
import { readFileSync } from "node:fs";

let cachedBootId: string | null | undefined;

/** This boot's id (Linux); null where the platform has none. */
export function currentBootId(): string | null {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    } catch {
      cachedBootId = null;
    }
  }
  return cachedBootId;
}

/**
 * The start time of a process in clock ticks since boot, from /proc; null if it is gone, or a
 * zombie (exited, waiting to be reaped: it must not count as alive).
 */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z" || fields[0] === "X") return null;
    return fields[19] ?? null; // field 22 of stat; fields[0] here is field 3
  } catch {
    return null;
  }
}

export function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** True when pid is alive and is the very process that was recorded (same boot, same start). */
export function isSameProcess(pid: number, startTime: string | null, bootId: string | null): boolean {
  if (bootId !== null && currentBootId() !== null && bootId !== currentBootId()) return false;
  if (!isPidAlive(pid)) return false;
  const actualStart = processStartTime(pid);
  if (actualStart === null && currentBootId() !== null) return false; // gone or a zombie (Linux)
  if (startTime !== null && actualStart !== startTime) return false;
  return true;
}
