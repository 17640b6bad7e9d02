// A child's exit status as a shell reports it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { exitStatus } from "../../../src/shared/exit-status.js";

test("an exit code is passed through", () => {
  assert.equal(exitStatus(0, null), 0);
  assert.equal(exitStatus(3, null), 3);
  assert.equal(exitStatus(255, null), 255);
});

test("a signal is 128 + its number", () => {
  assert.equal(exitStatus(null, "SIGINT"), 130);
  assert.equal(exitStatus(null, "SIGKILL"), 137);
  assert.equal(exitStatus(null, "SIGTERM"), 143);
  assert.equal(exitStatus(0, "SIGHUP"), 129, "the signal wins over a code");
});

test("neither code nor signal reads as failure", () => {
  assert.equal(exitStatus(null, null), 1);
});
