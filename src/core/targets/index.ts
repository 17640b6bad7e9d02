// Resolves what a user typed (sb-… id, prefix, wt-name, branch, or a cloud dep-… id) to the
// operations of that sandbox. Each world's module is loaded only when it is needed.
import type { HeyoHome } from "../../state/home.js";
import { targetKind } from "./kind.js";
import type { SandboxTarget } from "./types.js";

export type { ExecRequest, ExecResult, LogRequest, OutputSink, SandboxTarget, StopOutcome, UserTerminal } from "./types.js";

export async function resolveTarget(home: HeyoHome, query: string): Promise<SandboxTarget> {
  if (targetKind(query) === "cloud") return (await import("./cloud.js")).cloudTarget(home, query);
  return (await import("./local.js")).localTarget(home, query);
}
