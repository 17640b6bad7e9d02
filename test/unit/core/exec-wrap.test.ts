// exec --user as exec-wrap.ts puts it around a command: outermost (the timeout and the session run
// as the user too), a name or uid only (anything else is refused before anything runs), and the
// script's answers run here with sh, as root and as an unprivileged user.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { wrapCommand } from "../../../src/core/exec-wrap.js";
import { UserError } from "../../../src/shared/errors.js";
import { findSystemExecutable } from "../../../src/shared/run.js";

function run(argv: string[], prefix: string[] = []): { code: number | null; stdout: string; stderr: string } {
  const [file = "", ...args] = [...prefix, ...argv];
  const result = spawnSync(file, args, { encoding: "utf8" });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("exec --user", () => {
  test("wraps outside --timeout and --session, and passes argv untouched", () => {
    const wrapped = wrapCommand(["printf", "%s|", "a b", "$HOME"], { A: "1" }, { user: "heyo", timeoutMs: 5000, session: "s1" });
    assert.deepEqual(wrapped.argv.slice(0, 2), ["sh", "-c"]);
    assert.deepEqual(wrapped.argv.slice(3, 6), ["heyvm-user", "heyo", "timeout"]);
    assert.ok(wrapped.argv.includes("heyvm-session"));
  });

  test("a name or a uid; anything else is a UserError before anything runs", () => {
    for (const user of ["heyo", "_svc", "build-1", "machine$", "1000", "0"]) assert.doesNotThrow(() => wrapCommand(["true"], {}, { user }));
    for (const user of ["", "bad name", "-rf", "a;b", "$(id)", "x".repeat(40), "é"]) {
      assert.throws(() => wrapCommand(["true"], {}, { user }), (error: unknown) => error instanceof UserError && /--user takes a user name or a uid/.test(error.message));
    }
  });

  test("the user switch's answers: oneself runs as is, a missing user and a switch without root are refused with 125", { skip: process.getuid?.() !== 0 ? "needs root to run as another user" : !findSystemExecutable("setpriv") ? "setpriv is not installed" : false }, () => {
    const self = run(wrapCommand(["id", "-un"], {}, { user: "root" }).argv);
    assert.deepEqual(self, { code: 0, stdout: "root\n", stderr: "" });
    const missing = run(wrapCommand(["true"], {}, { user: "no-such-user-hv" }).argv);
    assert.deepEqual(missing, { code: 125, stdout: "", stderr: "heyvm: exec --user no-such-user-hv: there is no such user in this sandbox\n" });
    const other = run(wrapCommand(["sh", "-c", 'id -un; echo "$HOME $USER"'], {}, { user: "nobody" }).argv);
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stdout, /^nobody\n\S+ nobody\n$/);
    // an unprivileged caller (as a sandbox's heyo is) cannot become root: refused, nothing runs
    const setpriv = findSystemExecutable("setpriv") ?? "setpriv";
    const unprivileged = run(wrapCommand(["id", "-u"], {}, { user: "root" }).argv, [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
    assert.equal(unprivileged.code, 125);
    assert.equal(unprivileged.stdout, "");
    assert.match(unprivileged.stderr, /cannot become another user/);
  });
});
