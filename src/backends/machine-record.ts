// The field readers every backend's typed machine record (owner.json's "machine", what a backend
// needs later to reach its machine) is validated with. A field that is missing or of another type
// reads as null (or empty), never as a crash: a record written by an earlier heyvm, for a sandbox
// still running, must still read.
import { isObject, type JsonObject } from "../shared/json.js";
import type { SandboxLimits } from "./sandbox-limits.js";

export function numberField(raw: JsonObject, key: string): number | null {
  const value = raw[key];
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

export function textField(raw: JsonObject, key: string): string | null {
  const value = raw[key];
  return typeof value === "string" && value !== "" ? value : null;
}

export function wordsField(raw: JsonObject, key: string): string[] | null {
  const value = raw[key];
  return Array.isArray(value) && value.every((word): word is string => typeof word === "string") ? value : null;
}

/** A guest port → the 127.0.0.1 port that reaches it, as every forwarding backend records it. */
export type RecordedForwards = Record<string, number>;

export function forwardsField(raw: JsonObject): RecordedForwards {
  const value = raw.forwards;
  if (!isObject(value)) return {};
  const forwards: RecordedForwards = {};
  for (const [guest, host] of Object.entries(value)) if (typeof host === "number" && Number.isInteger(host)) forwards[guest] = host;
  return forwards;
}

/** The forwards a backend set up at boot, in the recorded form. */
export function forwardsRecord(forwards: ReadonlyArray<{ host: number; guest: number }>): RecordedForwards {
  return Object.fromEntries(forwards.map((f) => [String(f.guest), f.host]));
}

/** The limits a boot applied, as recorded (numbers of an older record may be missing). */
export interface RecordedLimits {
  values: Partial<SandboxLimits>;
  set: string[] | null;
  notSet: string[] | null;
}

const LIMIT_KEYS = ["pids", "memoryMiB", "cpus", "tmpMiB", "homeMiB"] as const;

/** Every backend records what bounds it applied under "limits" (bubblewrap: the sandbox; VMs: their host-side processes). */
export function limitsField(raw: JsonObject): RecordedLimits | null {
  const limits = raw.limits;
  if (!isObject(limits)) return null;
  const values: Partial<SandboxLimits> = {};
  for (const key of LIMIT_KEYS) {
    const value = numberField(limits, key);
    if (value !== null) values[key] = value;
  }
  return { values, set: wordsField(limits, "set"), notSet: wordsField(limits, "notSet") };
}

export function limitsRecord(limits: RecordedLimits | null): JsonObject | null {
  if (limits === null) return null;
  const record: JsonObject = { set: limits.set, notSet: limits.notSet };
  for (const key of LIMIT_KEYS) {
    const value = limits.values[key];
    if (value !== undefined) record[key] = value;
  }
  return record;
}
