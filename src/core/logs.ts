// Reading owner.log: the last lines, and with follow, new lines as they come until the sandbox
// stops (the owner's exit line is the last thing shown).
import { closeSync, openSync, readSync, statSync } from "node:fs";
import type { HeyoHome } from "../state/home.js";
import { isSameProcess } from "../state/liveness.js";
import { readOwner } from "../state/records.js";
import { resolveSandbox, type SandboxEntry } from "./catalog.js";

export interface LogOptions {
  follow: boolean;
  /** How many lines from the end to start with; 0 means the whole log. */
  lines: number;
  pollMs?: number;
}

function readFrom(path: string, offset: number): { text: string; size: number } {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return { text: "", size: 0 };
  }
  if (size <= offset) return { text: "", size };
  const fd = openSync(path, "r");
  try {
    const buffer = Buffer.alloc(size - offset);
    const read = readSync(fd, buffer, 0, buffer.length, offset);
    return { text: buffer.subarray(0, read).toString("utf8"), size: offset + read };
  } finally {
    closeSync(fd);
  }
}

function ownerAlive(entry: SandboxEntry): boolean {
  const owner = readOwner(entry.dir);
  return owner !== undefined && isSameProcess(owner.pid, owner.pidStartTime, owner.bootId);
}

export async function* followLog(entry: SandboxEntry, options: LogOptions): AsyncGenerator<string> {
  const path = entry.dir.logPath;
  const first = readFrom(path, 0);
  let offset = first.size;
  if (options.lines > 0) {
    const lines = first.text.split("\n");
    const trailing = lines[lines.length - 1] === "" ? 1 : 0;
    yield lines.slice(-(options.lines + trailing)).join("\n");
  } else {
    yield first.text;
  }
  if (!options.follow) return;
  const pollMs = options.pollMs ?? 200;
  for (;;) {
    const alive = ownerAlive(entry);
    const next = readFrom(path, offset);
    offset = next.size;
    if (next.text) yield next.text;
    if (!alive) return;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

export function sandboxLog(home: HeyoHome, query: string, options: LogOptions): AsyncGenerator<string> {
  return followLog(resolveSandbox(home, query), options);
}
