// The local sandbox (sb-…) behind the SandboxTarget operations.
import type { HeyoHome } from "../../state/home.js";
import { execCommandFor, shellInEntry } from "../attach.js";
import { runCaptured } from "../capture.js";
import { resolveSandbox, viewOf } from "../catalog.js";
import { timedOut, wrapCommand } from "../exec-wrap.js";
import { runInteractive } from "../interactive.js";
import { followLog } from "../logs.js";
import { sandboxInfo } from "../sandbox-info.js";
import { stopEntry } from "../stop.js";
import type { SandboxTarget } from "./types.js";

/** How long `sh` waits for a sandbox that is still starting. */
const SHELL_START_WAIT_MS = 120_000;

/** The most exec --format json keeps of each stream. */
const CAPTURE_LIMIT_BYTES = 64 * 1024 * 1024;

export function localTarget(home: HeyoHome, query: string): SandboxTarget {
  const entry = resolveSandbox(home, query);
  return {
    id: entry.spec.id,
    async exec(argv, request) {
      const wrapped = wrapCommand(argv, request.env, request);
      const command = await execCommandFor(entry, wrapped.argv, { tty: false, cwd: request.cwd, env: wrapped.env });
      const started = performance.now();
      if (request.capture) {
        const run = await runCaptured(command, { stdin: "inherit", maxOutputBytes: CAPTURE_LIMIT_BYTES });
        return { exitCode: run.exitCode, stdout: run.stdout, stderr: run.stderr, timedOut: timedOut(run.exitCode, performance.now() - started, request.timeoutMs) };
      }
      const exitCode = await runInteractive(command);
      return { exitCode, timedOut: timedOut(exitCode, performance.now() - started, request.timeoutMs) };
    },
    describe: async () => await sandboxInfo(await viewOf(entry)),
    shell: (terminal) => shellInEntry(entry, { tty: terminal.tty }, SHELL_START_WAIT_MS),
    stop: () => stopEntry(home, entry),
    logs: (request) => followLog(entry, request),
  };
}
