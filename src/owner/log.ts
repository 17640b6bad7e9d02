// The owner's log (owner.log): every line timestamped, console output line-buffered, so that
// `heyvm logs -f` reads like a boot transcript.
import { appendFileSync } from "node:fs";
import { LOG_SOURCE, formatLogLines, type LogSource } from "../shared/log-lines.js";
import type { Reporter } from "../shared/reporter.js";

export class OwnerLog {
  private pendingConsole = "";
  constructor(private readonly path: string) {}

  line(source: LogSource, message: string): void {
    appendFileSync(this.path, formatLogLines(source, message));
  }

  /** Raw console bytes from the machine; complete lines are written, a partial one is kept. */
  console(chunk: string): void {
    this.pendingConsole += chunk.replace(/\r/g, "");
    const lastNewline = this.pendingConsole.lastIndexOf("\n");
    if (lastNewline === -1) return;
    const complete = this.pendingConsole.slice(0, lastNewline);
    this.pendingConsole = this.pendingConsole.slice(lastNewline + 1);
    this.line(LOG_SOURCE.console, complete);
  }

  /** A backend's progress and notes, as owner lines. */
  reporter(): Reporter {
    return { progress: (message) => this.line(LOG_SOURCE.owner, message), info: (message) => this.line(LOG_SOURCE.owner, message) };
  }

  flush(): void {
    if (this.pendingConsole) this.line(LOG_SOURCE.console, this.pendingConsole);
    this.pendingConsole = "";
  }
}
