// Reading owner.log for a terminal: the last lines, and with follow, new lines as they come until
// the sandbox stops (the owner's exit line is the last thing shown). What the sandbox printed is
// data: each line is rendered by shared/log-lines.ts (control sequences shown escaped, lines heyvm
// did not write marked), and only whole lines are shown while the log grows.
import { lastLinesBytes, readBytesFrom, wholeLinesEnd } from "../shared/file-tail.js";
import { renderLogBytes } from "../shared/log-lines.js";
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
  const alive = () => processStatus(entry.dir).status !== "stopped";
  let offset = 0;
  // the whole lines from offset on (all of it once the sandbox has stopped), rendered
  const next = (stopped: boolean, lines = 0): string => {
    const chunk = readBytesFrom(path, offset);
    if (!chunk) return "";
    const end = wholeLinesEnd(chunk.bytes, stopped);
    offset = chunk.end - (chunk.bytes.length - end); // a truncated log starts again at its end
    const whole = chunk.bytes.subarray(0, end);
    return renderLogBytes(lines > 0 ? lastLinesBytes(whole, lines) : whole);
  };
  yield next(!options.follow || !alive(), options.lines);
  if (!options.follow) return;
  const pollMs = options.pollMs ?? 200;
  for (;;) {
    const stopped = !alive();
    const text = next(stopped);
    if (text) yield text;
    if (stopped) return;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
