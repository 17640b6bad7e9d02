// The local sandbox (sb-…) behind the SandboxTarget operations.
import type { HeyoHome } from "../../state/home.js";
import { shellInEntry } from "../attach.js";
import { resolveSandbox, viewOf } from "../catalog.js";
import { followLog } from "../logs.js";
import { limitsInfo, sandboxInfo } from "../sandbox-info.js";
import { stopEntry } from "../stop.js";
import { execLocal } from "./local-exec.js";
import type { SandboxTarget } from "./types.js";

/** How long `sh` waits for a sandbox that is still starting. */
const SHELL_START_WAIT_MS = 120_000;

export function localTarget(home: HeyoHome, query: string): SandboxTarget {
  const entry = resolveSandbox(home, query);
  return {
    id: entry.spec.id,
    exec: (argv, request) => execLocal(entry, argv, request),
    describe: async () => {
      const view = await viewOf(entry);
      return { ...(await sandboxInfo(view)), limits: limitsInfo(view) };
    },
    shell: (terminal) => shellInEntry(entry, { tty: terminal.tty }, SHELL_START_WAIT_MS),
    stop: () => stopEntry(home, entry),
    logs: (request) => followLog(entry, request),
  };
}
