// Reading a heyvm run as a client does: its JSON on success, or a clean refusal (exit code, one
// line naming the problem, no stack trace).
import assert from "node:assert/strict";
import type { RunResult } from "./env.js";

/** The JSON a successful run printed (exit 0 asserted, with stderr in the message). */
export function jsonOf<T = Record<string, unknown>>(result: RunResult): T {
  assert.equal(result.code, 0, `exit ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/** A refused run: this exit code, a message matching `message`, and no stack trace. */
export function assertRefused(result: RunResult, code: number, message: RegExp): void {
  assert.equal(result.code, code, `${result.stdout}\n${result.stderr}`);
  assert.match(result.stderr, message);
  assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
}
