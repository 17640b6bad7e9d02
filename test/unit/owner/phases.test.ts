// The owner's transition table (src/owner/phases.ts): each rule of its life, and that every
// phase/event pair has an answer that keeps the rules (one stop, a machine never left behind,
// stopped is the end).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { OWNER_TRANSITIONS, ownerTransition, recordedState, type OwnerEvent, type OwnerPhase } from "../../../src/owner/phases.js";

const PHASES: OwnerPhase[] = ["starting", "running", "stopping", "stopped"];
const EVENTS: OwnerEvent[] = ["booted", "bootFailed", "stopRequested", "machineEnded", "machineStopped"];

/** Runs events from starting; returns the phases passed through and every effect, in order. */
function walk(events: OwnerEvent[]): { phases: OwnerPhase[]; effects: string[] } {
  let phase: OwnerPhase = "starting";
  const phases: OwnerPhase[] = [phase];
  const effects: string[] = [];
  for (const event of events) {
    const step = ownerTransition(phase, event);
    phase = step.next;
    phases.push(phase);
    effects.push(...step.effects);
  }
  return { phases, effects };
}

describe("owner phases", () => {
  test("a boot that succeeds: starting → running, ready once", () => {
    const { phases, effects } = walk(["booted"]);
    assert.deepEqual(phases, ["starting", "running"]);
    assert.deepEqual(effects, ["becomeReady"]);
  });

  test("a stop while running: recorded, the machine stopped, then the end with code 0", () => {
    const { phases, effects } = walk(["booted", "stopRequested", "machineStopped"]);
    assert.deepEqual(phases, ["starting", "running", "stopping", "stopped"]);
    assert.deepEqual(effects, ["becomeReady", "recordStopping", "stopMachine", "finishStopped"]);
  });

  test("a stop during the boot aborts it and stops the machine it still produced", () => {
    const { phases, effects } = walk(["stopRequested", "booted", "machineStopped"]);
    assert.deepEqual(phases, ["starting", "stopping", "stopping", "stopped"]);
    assert.deepEqual(effects, ["abortBoot", "tellStoppedWhileStarting", "stopMachine", "finishStopped"]);
  });

  test("a stop during a boot that then fails ends as stopped (code 0), not as a failure", () => {
    const { phases, effects } = walk(["stopRequested", "bootFailed"]);
    assert.deepEqual(phases, ["starting", "stopping", "stopped"]);
    assert.deepEqual(effects, ["abortBoot", "tellStoppedWhileStarting", "finishStopped"]);
  });

  test("a failed boot is reported and ends with code 1", () => {
    const { phases, effects } = walk(["bootFailed"]);
    assert.deepEqual(phases, ["starting", "stopped"]);
    assert.deepEqual(effects, ["reportBootFailure", "finishFailed"]);
  });

  test("a machine that ends on its own while running ends the owner with code 1", () => {
    assert.deepEqual(walk(["booted", "machineEnded"]).effects, ["becomeReady", "finishFailed"]);
  });

  test("a second stop request changes nothing: one stop", () => {
    for (const first of [["stopRequested"], ["booted", "stopRequested"]] as OwnerEvent[][]) {
      const once = walk(first);
      const twice = walk([...first, "stopRequested"]);
      assert.deepEqual(twice.effects, once.effects);
      assert.equal(twice.phases.at(-1), "stopping");
    }
  });

  test("the machine ending while it is being stopped does not end the owner early", () => {
    const { phases, effects } = walk(["booted", "stopRequested", "machineEnded"]);
    assert.equal(phases.at(-1), "stopping");
    assert.ok(!effects.includes("finishFailed"));
  });

  test("stopped is the end: no event leads out of it or does anything", () => {
    for (const event of EVENTS) assert.deepEqual(ownerTransition("stopped", event), { next: "stopped", effects: [] });
  });

  test("every transition in the table goes forward, and only the ends finish", () => {
    const order = (phase: OwnerPhase) => PHASES.indexOf(phase);
    for (const phase of PHASES) {
      for (const event of EVENTS) {
        const { next, effects } = ownerTransition(phase, event);
        assert.ok(order(next) >= order(phase), `${phase} on ${event} goes back to ${next}`);
        const finishes = effects.filter((effect) => effect.startsWith("finish"));
        assert.equal(finishes.length, next === "stopped" && phase !== "stopped" ? 1 : 0, `${phase} on ${event}: ${effects.join(", ")}`);
      }
    }
  });

  test("a machine is stopped only once, and only in the stopping phase", () => {
    for (const [phase, events] of Object.entries(OWNER_TRANSITIONS)) {
      for (const [event, step] of Object.entries(events)) {
        if (step.effects.includes("stopMachine")) assert.equal(step.next, "stopping", `${phase} on ${event}`);
      }
    }
    for (const events of [["booted", "stopRequested", "stopRequested", "machineStopped"], ["stopRequested", "stopRequested", "booted", "machineStopped"]] as OwnerEvent[][]) {
      assert.equal(walk(events).effects.filter((effect) => effect === "stopMachine").length, 1, events.join(" "));
    }
  });

  test("owner.json's state names the phase", () => {
    assert.deepEqual(PHASES.map(recordedState), ["starting", "running", "stopping", "stopping"]);
  });
});
