// A short run of the concurrency soak (bench/soak.ts runs it for 20 rounds): concurrent
// `wt --detach` over four branches, a `stop` racing one of them, two worktrees re-created each
// round, each `git worktree add` held half-done for a moment (so that a git command racing it
// outside the repository lock fails every time, not once in a while); every branch must end each
// round with one sandbox id and one live owner, no call failing.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { bubblewrapMissing, makeTestEnv, type TestEnv } from "./helpers/env.js";
import { cleanUpSoak, describeSoak, runSoak, soakPassed, type SoakReport } from "./helpers/soak.js";

const skip = bubblewrapMissing();
const ROUNDS = Number(process.env.SOAK_ROUNDS ?? 3);

let t: TestEnv;
let report: SoakReport | undefined;
before(() => {
  t = makeTestEnv("heyvm-soak-test-");
});
after(async () => {
  await cleanUpSoak(t, report);
});

test(`${ROUNDS} rounds of 8 concurrent wt --detach over 4 branches, with stop racing one: one id and one owner per branch, no errors`, { skip }, async () => {
  report = await runSoak(t, { rounds: ROUNDS });
  const summary = describeSoak(report).join("\n");
  assert.equal(report.rounds, ROUNDS);
  assert.ok(soakPassed(report), summary);
  for (const [branch, ids] of Object.entries(report.idsPerBranch)) assert.equal(ids.length, 1, `${branch}\n${summary}`);
  for (const [branch, owners] of Object.entries(report.ownersPerBranch)) assert.deepEqual(owners, Array(ROUNDS).fill(1), `${branch}\n${summary}`);
});
