// The environment inside a sandbox (clean: host secrets never pass) and the entry script that
// changes folder, exports the user's variables and runs argv untouched, run here by a real sh.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { CD_AND_EXEC, GUEST_PATH, enterWords, guestEnvironment } from "../../../src/backends/guest-env.js";
import { UserError } from "../../../src/shared/errors.js";
import { sandboxSpec, withTempDir } from "../helpers/fixtures.js";

/** Runs fn with some process.env keys set (undefined: unset), restoring them afterwards. */
function withEnv(values: Record<string, string | undefined>, fn: () => void): void {
  const saved = Object.fromEntries(Object.keys(values).map((key) => [key, process.env[key]]));
  const apply = (entries: Record<string, string | undefined>) => {
    for (const [key, value] of Object.entries(entries)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
  apply(values);
  try {
    fn();
  } finally {
    apply(saved);
  }
}

describe("guestEnvironment", () => {
  test("a fixed PATH, heyo's HOME and user, the sandbox's id and name", () => {
    withEnv({ TERM: undefined, COLORTERM: undefined, LANG: undefined, LC_ALL: undefined, LC_CTYPE: undefined }, () => {
      assert.deepEqual(guestEnvironment(sandboxSpec(), "/home/heyo"), {
        PATH: GUEST_PATH,
        HOME: "/home/heyo",
        USER: "heyo",
        LOGNAME: "heyo",
        HEYVM_SANDBOX_ID: "sb-0123abcd",
        HEYVM_SANDBOX_NAME: "wt-feature-x",
      });
    });
  });

  test("terminal and locale settings pass through; nothing else from the host does", () => {
    withEnv({ TERM: "xterm-256color", LANG: "C.UTF-8", LC_ALL: "", HEYVM_UNIT_SECRET: "s3cret", AWS_SECRET_ACCESS_KEY: "k" }, () => {
      const env = guestEnvironment(sandboxSpec(), "/home/heyo");
      assert.equal(env.TERM, "xterm-256color");
      assert.equal(env.LANG, "C.UTF-8");
      assert.ok(!("LC_ALL" in env), "empty values are not passed");
      assert.ok(!Object.values(env).includes("s3cret") && !("AWS_SECRET_ACCESS_KEY" in env));
    });
  });

  test("extra variables are added last and may override", () => {
    const env = guestEnvironment(sandboxSpec(), "/home/heyo", { PATH: "/opt/bin", FOO: "bar" });
    assert.equal(env.PATH, "/opt/bin");
    assert.equal(env.FOO, "bar");
  });
});

describe("enterWords and CD_AND_EXEC", () => {
  test("the words are the folder, the count, then KEY=VALUE", () => {
    assert.deepEqual(enterWords("/workspace"), ["/workspace", "0"]);
    assert.deepEqual(enterWords("/workspace/sub", { A: "1", B_2: "x y" }), ["/workspace/sub", "2", "A=1", "B_2=x y"]);
  });

  test("invalid variable names are refused before anything runs", () => {
    for (const key of ["1A", "A-B", "", "A B", "LD_PRELOAD=x"]) {
      assert.throws(() => enterWords("/w", { [key]: "v" }), (error: unknown) => error instanceof UserError && error.message === `"${key}" is not a valid environment variable name`);
    }
  });

  test("sh runs argv in the folder with the variables exported, argv untouched", () =>
    withTempDir((dir) => {
      const argv = ["sh", "-c", 'printf "%s|%s|%s|%s" "$PWD" "$GREETING" "$1" "$2"', "arg0", "it's $HOME", "*"];
      const result = spawnSync("sh", ["-c", CD_AND_EXEC, "enter", ...enterWords(dir, { GREETING: "hello world; $(false)" }), ...argv], { encoding: "utf8" });
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, `${dir}|hello world; $(false)|it's $HOME|*`);
    }));

  test("a folder that does not exist exits 127 without running argv", () =>
    withTempDir((dir) => {
      const result = spawnSync("sh", ["-c", CD_AND_EXEC, "enter", ...enterWords(`${dir}/missing`), "sh", "-c", "echo ran"], { encoding: "utf8" });
      assert.equal(result.status, 127);
      assert.doesNotMatch(result.stdout, /ran/);
    }));
});
