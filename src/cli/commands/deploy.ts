// `heyvm wt <branch> --deploy` (issue 4 replaces this).
import { UnavailableError } from "../../shared/errors.js";
import type { CliIO } from "../io.js";
import type { DeployFlags } from "./deploy-options.js";

export async function deployWorktree(_io: CliIO, _branch: string, _flags: DeployFlags): Promise<number> {
  throw new UnavailableError("cloud deploy is not built yet");
}
