// `heyvm session reset <id> <name>`: a named exec session (exec --session) starts afresh — its
// folder and exported variables, kept inside the sandbox, are removed. Local and cloud alike,
// through the sandbox's own exec.
import { OperationFailedError } from "../shared/errors.js";
import type { HeyoHome } from "../state/home.js";
import { sessionResetArgv } from "./exec-wrap.js";
import { resolveTarget } from "./targets/index.js";

export interface SessionResetResult {
  id: string;
  session: string;
  /** false: there was no such session (nothing to forget). */
  existed: boolean;
}

export async function resetSession(home: HeyoHome, query: string, name: string): Promise<SessionResetResult> {
  const argv = sessionResetArgv(name);
  const target = await resolveTarget(home, query);
  const result = await target.exec(argv, { env: {}, capture: true });
  const said = (result.stdout ?? "").trim();
  if (result.exitCode !== 0 || (said !== "reset" && said !== "absent")) {
    throw new OperationFailedError(`could not reset session ${name} in ${target.id}: ${(result.stderr ?? "").trim().split("\n")[0] || `exit ${result.exitCode}`}`);
  }
  return { id: target.id, session: name, existed: said === "reset" };
}
