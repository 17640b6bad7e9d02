// A bubblewrap sandbox's machine record (owner.json's "machine"): its one type, the one writer the
// boot uses and the one reader everything else uses, and the table of the files it keeps in the
// sandbox's folder, so each is named once.
import type { JsonObject } from "../../shared/json.js";
import type { OwnerRecord } from "../../state/records.js";
import { forwardsField, limitsField, limitsRecord, numberField, textField, wordsField, type RecordedForwards, type RecordedLimits } from "../machine-record.js";

export type { RecordedLimits } from "../machine-record.js";

/** The files a bubblewrap sandbox keeps in its folder beside SandboxDir's. */
export const BUBBLEWRAP_FILES = {
  /** pasta's log (the sandbox's own network). */
  pastaLog: "pasta.log",
  /** Runtime files the sandbox's host user owns (pasta's pid file). */
  runDir: "run",
  /** In runDir. */
  pastaPid: "pasta.pid",
} as const;

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
    limits: limitsField(raw),
  };
}

/** The writer: what the boot puts in owner.json. */
export function bubblewrapMachineRecord(machine: Omit<BubblewrapMachine, "outerPid"> & { outerPid: number | null }): JsonObject {
  const { initPid, initStartTime, keeperPid, outerPid, outerStartTime, forwards, entryStep } = machine;
  return { initPid, initStartTime, keeperPid, outerPid, outerStartTime, forwards, entryStep, limits: limitsRecord(machine.limits) };
}
