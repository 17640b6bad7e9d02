// Prints HEYVM_TRACE=1's steps on stderr: `[trace   12.3 ms] step`, ms since this command started.
import { escapeControls } from "../shared/terminal-text.js";
import { listenToTrace, tracing } from "../shared/trace.js";
import type { TextOutput } from "./io.js";

export function printTraceTo(stderr: TextOutput): void {
  if (!tracing()) return;
  listenToTrace((event) => {
    const ms = event.at - performance.timeOrigin;
    stderr.write(`[trace ${ms.toFixed(1).padStart(7)} ms] ${escapeControls(event.step)}\n`);
  });
}
