// Attached mode: the sandbox lives as long as the shell (or the terminal) does; the worktree stays.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { bubblewrapMissing, makeTestEnv, waitFor, type TestEnv, idOf } from "./helpers/env.js";

const skip = bubblewrapMissing();

async function state(t: TestEnv, branch: string): Promise<string | undefined> {
  const result = await t.run(["list", "--all", "--json"]);
  const rows = JSON.parse(result.stdout) as Array<{ branch: string; state: string }>;
  return rows.find((r) => r.branch === branch)?.state;
}

describe("heyvm wt without --detach", { skip }, () => {
  let t: TestEnv;
  before(() => {
    t = makeTestEnv();
  });
  after(async () => t.cleanup());

  test("the shell runs in /workspace; when it exits the sandbox stops and the worktree stays", async () => {
    const result = await t.run(["wt", "feature/attached"], { input: "pwd; echo from-shell > made-in-shell.txt; exit 3\n" });
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stdout, /^\/workspace\nID: sb-[0-9a-f]{8}\n$/, "the shell's output, then the sandbox's id line");
    const worktree = join(t.root, "feature-attached");
    assert.equal(readFileSync(join(worktree, "made-in-shell.txt"), "utf8"), "from-shell\n");
    assert.equal(await state(t, "feature/attached"), "stopped");
    assert.ok(existsSync(worktree));
    assert.match(result.stderr, /stopped; the worktree stays/);
  });

  test("if the terminal dies, the sandbox shuts down too", async () => {
    const cli = t.spawn(["wt", "feature/orphaned"]);
    await waitFor(async () => (await state(t, "feature/orphaned")) === "running", 20_000, "the attached sandbox to run");
    cli.kill("SIGKILL");
    await waitFor(async () => (await state(t, "feature/orphaned")) === "stopped", 20_000, "the sandbox to stop after its terminal died");
  });

  test("wt --shell and sh attach to a detached sandbox, which keeps running", async () => {
    const started = await t.run(["wt", "feature/detached", "--detach"]);
    assert.equal(started.code, 0, started.stderr);
    const viaWt = await t.run(["wt", "feature/detached", "--shell"], { input: "echo via-wt; hostname\n" });
    assert.equal(viaWt.code, 0, viaWt.stderr);
    assert.equal(viaWt.stdout, "via-wt\nwt-feature-detached\n");
    const viaSh = await t.run(["sh", idOf(started.stdout)], { input: "echo via-sh\n" });
    assert.equal(viaSh.stdout, "via-sh\n");
    assert.equal(await state(t, "feature/detached"), "running");
    const plain = await t.run(["wt", "feature/detached"], { input: "exit 0\n" });
    assert.equal(plain.code, 0);
    assert.equal(await state(t, "feature/detached"), "running", "a shell on someone else's detached sandbox does not stop it");
    const noSandbox = await t.run(["wt", "feature/never", "--shell"]);
    assert.equal(noSandbox.code, 3);
    assert.match(noSandbox.stderr, /has no sandbox yet/);
    await t.run(["stop", idOf(started.stdout)]);
  });
});
