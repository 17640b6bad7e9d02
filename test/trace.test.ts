// HEYVM_TRACE=1 (shared/trace.ts, cli/trace-output.ts): a start's steps on stderr with ms since
// the command started, the owner's own steps among them on the same clock, stdout untouched;
// exec and stop traced too; nothing printed without the variable.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { bubblewrapMissing, idOf, makeTestEnv, type TestEnv } from "./helpers/env.js";

const skip = bubblewrapMissing();
const TRACE_LINE = /^\[trace +(\d+\.\d) ms\] (.+)$/;

/** The trace lines of stderr as [ms, step]; fails on a line that looks like a trace but is not one. */
function steps(stderr: string): Array<[number, string]> {
  return stderr.split("\n").filter((line) => line.startsWith("[trace")).map((line) => {
    const match = TRACE_LINE.exec(line);
    assert.ok(match, `a trace line: ${line}`);
    return [Number(match[1]), match[2] ?? ""];
  });
}

describe("HEYVM_TRACE=1", { skip }, () => {
  let t: TestEnv;
  let id = "";
  before(() => {
    t = makeTestEnv();
  });
  after(async () => {
    if (id) await t.run(["stop", id]);
    await t.cleanup();
  });

  test("wt --detach: its steps and the owner's, in order on one clock; stdout is only the id", async () => {
    const started = await t.run(["wt", "trace/one", "--detach", "-q"], { env: { HEYVM_TRACE: "1" } });
    assert.equal(started.code, 0, started.stderr);
    id = idOf(started.stdout);
    assert.equal(started.stdout.trim(), id);
    const trace = steps(started.stderr);
    const at = (step: string) => trace.find(([, name]) => name === step)?.[0] ?? assert.fail(`no step "${step}" in\n${started.stderr}`);
    const spawned = trace.find(([, name]) => name.startsWith("start: owner process"))?.[0] ?? assert.fail(started.stderr);
    const order = [at("wt: repository found"), at("wt: sandbox record ready"), spawned, at("owner: node started"), at("owner: bubblewrap: sandbox ready mark seen"), at("owner: starting → running (booted)"), at("start: ready")];
    assert.deepEqual([...order].sort((a, b) => a - b), order, `steps out of order:\n${started.stderr}`);
  });

  test("exec and stop are traced; without the variable nothing is", async () => {
    const exec = await t.run(["exec", id, "--", "true"], { env: { HEYVM_TRACE: "1" } });
    assert.equal(exec.code, 0, exec.stderr);
    assert.ok(steps(exec.stderr).some(([, name]) => name.startsWith("exec: command ended")), exec.stderr);
    const quiet = await t.run(["exec", id, "--", "true"]);
    assert.deepEqual(steps(quiet.stderr), []);
    const stop = await t.run(["stop", id], { env: { HEYVM_TRACE: "1" } });
    assert.equal(stop.code, 0, stop.stderr);
    assert.ok(steps(stop.stderr).some(([, name]) => name === "stop: owner gone"), stop.stderr);
    id = "";
  });
});
