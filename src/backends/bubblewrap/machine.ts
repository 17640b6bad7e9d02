// A bubblewrap sandbox's machine record (owner.json's "machine"): its one type, the one writer the
// boot uses and the one reader everything else uses, and the table of the files it keeps in the
// sandbox's folder, so each is named once.
import { isObject, type JsonObject } from "../../shared/json.js";
import type { OwnerRecord } from "../../state/records.js";
import { forwardsField, numberField, textField, wordsField, type RecordedForwards } from "../machine-record.js";
import type { SandboxLimits } from "../sandbox-limits.js";

/** The files a bubblewrap sandbox keeps in its folder beside SandboxDir's. */
export const BUBBLEWRAP_FILES = {
  /** pasta's log (the sandbox's own network). */
  pastaLog: "pasta.log",
  /** Runtime files the sandbox's host user owns (pasta's pid file). */
  runDir: "run",
  /** In runDir. */
  pastaPid: "pasta.pid",
} as const;

/** The limits the owner applied, as recorded (numbers of an older record may be missing). */
export interface RecordedLimits {
  values: Partial<SandboxLimits>;
  set: string[] | null;
  notSet: string[] | null;
}

export interface BubblewrapMachine {
  /** The sandbox's init (pid 1 inside) and its /proc start time: what shell and exec enter. */
  initPid: number | null;
  initStartTime: string | null;
  /** init's only child right after readiness, which keeps the namespace alive. */
  keeperPid: number | null;
  /**
   * bwrap's first process, which holds the outer user namespace that shell and exec enter first;
   * "absent" for a sandbox started by a heyvm from before the outer user namespace.
   */
  outerPid: number | null | "absent";
  outerStartTime: string | null;
  forwards: RecordedForwards;
  /** What shell and exec run first (joining the cgroup, or the process limit). */
  entryStep: string[];
  limits: RecordedLimits | null;
}

const LIMIT_KEYS = ["pids", "memoryMiB", "cpus", "tmpMiB", "homeMiB"] as const;

function readLimits(raw: JsonObject): RecordedLimits | null {
  const limits = raw.limits;
  if (!isObject(limits)) return null;
  const values: Partial<SandboxLimits> = {};
  for (const key of LIMIT_KEYS) {
    const value = numberField(limits, key);
    if (value !== null) values[key] = value;
  }
  return { values, set: wordsField(limits, "set"), notSet: wordsField(limits, "notSet") };
}

/** The reader: the record's fields, each validated (a wrong or missing one reads as null). */
export function readBubblewrapMachine(owner: Pick<OwnerRecord, "machine">): BubblewrapMachine {
  const raw = owner.machine;
  return {
    initPid: numberField(raw, "initPid"),
    initStartTime: textField(raw, "initStartTime"),
    keeperPid: numberField(raw, "keeperPid"),
    outerPid: raw.outerPid === undefined ? "absent" : numberField(raw, "outerPid"),
    outerStartTime: textField(raw, "outerStartTime"),
    forwards: forwardsField(raw),
    entryStep: wordsField(raw, "entryStep") ?? [],
    limits: readLimits(raw),
  };
}

/** The writer: what the boot puts in owner.json. */
export function bubblewrapMachineRecord(machine: Omit<BubblewrapMachine, "outerPid"> & { outerPid: number | null }): JsonObject {
  let limits: JsonObject | null = null;
  if (machine.limits !== null) {
    limits = { set: machine.limits.set, notSet: machine.limits.notSet };
    for (const key of LIMIT_KEYS) {
      const value = machine.limits.values[key];
      if (value !== undefined) limits[key] = value;
    }
  }
  const { initPid, initStartTime, keeperPid, outerPid, outerStartTime, forwards, entryStep } = machine;
  return { initPid, initStartTime, keeperPid, outerPid, outerStartTime, forwards, entryStep, limits };
}
