// The owner's life as a state machine: its phases, what can happen to it, and one table that
// says for each phase and event the next phase and what the owner does on the way. Pure data
// and one lookup, so the rules can be read (and unit-tested) here; owner/main.ts performs the
// effects. Anything the table does not name is ignored (a second stop, a late event after the end).
import type { OwnerState } from "../state/records.js";

/** starting → running → stopping → stopped; a boot that fails goes from starting to stopped. */
export type OwnerPhase = "starting" | "running" | "stopping" | "stopped";

export type OwnerEvent =
  /** The backend's boot returned a running machine. */
  | "booted"
  /** The backend's boot threw. */
  | "bootFailed"
  /** A stop request on owner.sock, SIGTERM/SIGINT/SIGHUP, the attached command gone, the TTL. */
  | "stopRequested"
  /** The machine ended by itself (not through a stop). */
  | "machineEnded"
  /** The machine's graceful stop returned (it has ended). */
  | "machineStopped";

export type OwnerEffect =
  /** Tell a boot in progress to give up (a long VM boot cleans up after itself). */
  | "abortBoot"
  /** owner.json says running; the ready hook, the TTL, the hand-over to the native monitor, "ready" to the starter. */
  | "becomeReady"
  /** owner.json says stopping (only once there is a machine to describe). */
  | "recordStopping"
  /** Shut the machine down within the grace; machineStopped follows. */
  | "stopMachine"
  /** The starter is told the sandbox was stopped while starting. */
  | "tellStoppedWhileStarting"
  /** The boot's error goes to owner.log and to the starter. */
  | "reportBootFailure"
  /** The last git sync (if a machine ran), then the end with code 0. */
  | "finishStopped"
  /** The end with code 1: the boot failed, or the machine ended on its own. */
  | "finishFailed";

export interface OwnerTransition {
  next: OwnerPhase;
  effects: readonly OwnerEffect[];
}

/** The one table of the owner's transitions. */
export const OWNER_TRANSITIONS: Readonly<Record<OwnerPhase, Partial<Record<OwnerEvent, OwnerTransition>>>> = {
  starting: {
    booted: { next: "running", effects: ["becomeReady"] },
    bootFailed: { next: "stopped", effects: ["reportBootFailure", "finishFailed"] },
    // the stop waits for the boot to settle, so that a machine is never left behind
    stopRequested: { next: "stopping", effects: ["abortBoot"] },
  },
  running: {
    stopRequested: { next: "stopping", effects: ["recordStopping", "stopMachine"] },
    machineEnded: { next: "stopped", effects: ["finishFailed"] },
  },
  stopping: {
    // a stop that came during the boot: the machine it produced is stopped at once
    booted: { next: "stopping", effects: ["tellStoppedWhileStarting", "stopMachine"] },
    bootFailed: { next: "stopped", effects: ["tellStoppedWhileStarting", "finishStopped"] },
    machineStopped: { next: "stopped", effects: ["finishStopped"] },
  },
  stopped: {},
};

/** What happens to an owner in `phase` on `event`; an event the table does not name changes nothing. */
export function ownerTransition(phase: OwnerPhase, event: OwnerEvent): OwnerTransition {
  return OWNER_TRANSITIONS[phase][event] ?? { next: phase, effects: [] };
}

/** owner.json's `state` for a phase (a stopped owner has removed its owner.json). */
export function recordedState(phase: OwnerPhase): OwnerState {
  return phase === "stopped" ? "stopping" : phase;
}
