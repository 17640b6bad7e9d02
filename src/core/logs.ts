// Reading owner.log: the last lines, and with follow, new lines as they come until the sandbox
// stops (the owner's exit line is the last thing shown).
import { lastLines, readFrom } from "../shared/file-tail.js";
import { processStatus } from "../state/status.js";
import type { SandboxEntry } from "./catalog.js";

export interface LogOptions {
  follow: boolean;
  /** How many lines from the end to start with; 0 means the whole log. */
  lines: number;
  pollMs?: number;
}

export async function* followLog(entry: SandboxEntry, options: LogOptions): AsyncGenerator<string> {
  const path = entry.dir.logPath;
  const first = readFrom(path, 0) ?? { text: "", end: 0 };
  let offset = first.end;
  yield options.lines > 0 ? lastLines(first.text, options.lines) : first.text;
  if (!options.follow) return;
  const pollMs = options.pollMs ?? 200;
  for (;;) {
    const alive = processStatus(entry.dir).status !== "stopped";
    const next = readFrom(path, offset);
    if (next) offset = next.end;
    if (next?.text) yield next.text;
    if (!alive) return;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
