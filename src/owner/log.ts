// The owner's log (owner.log): every line timestamped, console output line-buffered, so that
// `heyvm logs -f` reads like a boot transcript.
import { appendFileSync } from "node:fs";
import type { Reporter } from "../shared/reporter.js";

export class OwnerLog {
  private pendingConsole = "";
  constructor(private readonly path: string) {}

  line(source: string, message: string): void {
    const text = message
      .split("\n")
      .map((part) => `${new Date().toISOString()} ${source}: ${part}`)
      .join("\n");
    appendFileSync(this.path, `${text}\n`);
  }

  /** Raw console bytes from the machine; complete lines are written, a partial one is kept. */
  console(chunk: string): void {
    this.pendingConsole += chunk.replace(/\r/g, "");
    const lastNewline = this.pendingConsole.lastIndexOf("\n");
    if (lastNewline === -1) return;
    const complete = this.pendingConsole.slice(0, lastNewline);
    this.pendingConsole = this.pendingConsole.slice(lastNewline + 1);
    this.line("console", complete);
  }

  /** A backend's progress and notes, as owner lines. */
  reporter(): Reporter {
    return { progress: (message) => this.line("owner", message), info: (message) => this.line("owner", message) };
  }

  flush(): void {
    if (this.pendingConsole) this.line("console", this.pendingConsole);
    this.pendingConsole = "";
  }
}
