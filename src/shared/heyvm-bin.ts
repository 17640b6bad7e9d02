// Where heyvm's own executable is, for the processes heyvm starts of itself (the owner, and the
// stop command the owner's monitor runs).
import { existsSync } from "node:fs";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The CLI entry point, so that the owner shows up as `heyvm __sandbox_owner <id>` in ps.
 * HEYVM_BIN overrides; normally it is the script node was started with (bin/heyvm or its link).
 */
export function heyvmBin(): string {
  if (process.env.HEYVM_BIN) return process.env.HEYVM_BIN;
  const script = process.argv[1];
  if (script && basename(script) === "heyvm") return script;
  // Called in-process (tests, embedding): bin/ relative to the bundle or to the tsc output.
  const candidates = ["../../bin/heyvm", "../../../bin/heyvm"].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
  return candidates.find((path) => existsSync(path)) ?? candidates[0] ?? "heyvm";
}
