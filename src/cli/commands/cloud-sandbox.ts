// Cloud (dep-…) counterparts of sh, exec, stop, logs and list (issue 4 replaces this).
import { UnavailableError } from "../../shared/errors.js";
import type { CliIO } from "../io.js";

function notYet(): never {
  throw new UnavailableError("cloud sandboxes are not supported yet");
}
export async function cloudShell(_io: CliIO, _id: string): Promise<number> {
  return notYet();
}
export async function cloudExec(_io: CliIO, _id: string, _command: string[], _options: { cwd?: string; env: Record<string, string> }): Promise<number> {
  return notYet();
}
export async function cloudStop(_io: CliIO, _id: string, _json: boolean): Promise<void> {
  notYet();
}
export async function cloudLogs(_io: CliIO, _id: string): Promise<void> {
  notYet();
}
export async function cloudList(_io: CliIO, _json: boolean): Promise<void> {
  notYet();
}
