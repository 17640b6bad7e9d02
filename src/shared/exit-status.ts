// A child's exit status the way a shell reports it: its code, or 128 + the signal that ended it.
import { constants } from "node:os";

export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (signal) return 128 + (constants.signals[signal] ?? 1);
  return code ?? 1;
}
