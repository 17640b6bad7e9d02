// Exec recipes expanded into the command lines the backends ran before recipes existed (the SSH
// remote line, nsenter's words), and the rules the native launcher follows too: the folder, the
// variables in order, shell quoting, the caller's terminal variables.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { expandExecRecipe, type ExecRecipe } from "../../../src/backends/exec-recipe.js";
import { sshExecRecipe } from "../../../src/backends/ssh.js";
import { CD_AND_EXEC, guestEnvironmentRecipe } from "../../../src/backends/guest-env.js";
import { UserError } from "../../../src/shared/errors.js";
import { SandboxDir } from "../../../src/state/sandbox-dir.js";
import { heyoHome } from "../../../src/state/home.js";
import { sandboxSpec } from "../helpers/fixtures.js";

const dir = new SandboxDir(heyoHome({ HEYO_HOME: "/h" }), "sb-0123abcd");

describe("expandExecRecipe", () => {
  test("an SSH recipe: exported variables, the quoted folder and argv in one remote line", () => {
    const command = expandExecRecipe(sshExecRecipe(dir, { host: "127.0.0.1", port: 2222, user: "heyo" }), ["printf", "%s\n", "it's", "a b"], { cwd: "/work space", env: { A: "1", B: "x y" } });
    assert.equal(command.file, "ssh");
    assert.equal(command.env, undefined, "the ssh client gets the caller's environment");
    assert.equal(command.args[0], "-T");
    assert.deepEqual(command.args.slice(-3), ["heyo@127.0.0.1", "--", `export A=1 B='x y'; cd '/work space' || exit 127; printf '%s\n' 'it'\\''s' 'a b'; exit $?`]);
    assert.ok(command.args.includes("ControlPath=/h/sandboxes/sb-0123abcd/ssh/ctl"));
  });

  test("without variables or a folder: no export, the recipe's folder", () => {
    const command = expandExecRecipe(sshExecRecipe(dir, { host: "127.0.0.1", port: 22, user: "heyo" }), ["true"], {});
    assert.equal(command.args.at(-1), "cd /workspace || exit 127; true; exit $?");
  });

  const nsenterLike: ExecRecipe = {
    program: "/usr/bin/nsenter",
    lookup: { name: "nsenter", extraPath: "/usr/bin" },
    args: ["--target", "42", "--", "/bin/sh", "-c", CD_AND_EXEC, "heyvm", { join: [{ value: "cwd", quote: false }] }, { join: [{ value: "envCount" }] }, { each: "env" }, { each: "argv" }],
    env: guestEnvironmentRecipe(sandboxSpec(), "/home/heyo"),
    cwd: "/workspace",
    checkEnvNames: true,
    checks: [],
  };

  test("a word per variable and per argument, the fixed environment plus the caller's terminal", () => {
    const command = expandExecRecipe(nsenterLike, ["echo", "a b"], { env: { A: "1", Z: "" } }, { TERM: "xterm", LANG: "", SECRET: "s" });
    assert.deepEqual(command.args.slice(6), ["heyvm", "/workspace", "2", "A=1", "Z=", "echo", "a b"]);
    assert.deepEqual(Object.keys(command.env ?? {}), ["PATH", "HOME", "USER", "LOGNAME", "HEYVM_SANDBOX_ID", "HEYVM_SANDBOX_NAME", "TERM"]);
  });

  test("a recipe that checks names refuses what the script cannot export", () => {
    assert.throws(() => expandExecRecipe(nsenterLike, ["true"], { env: { "1A": "x" } }), (error: unknown) => error instanceof UserError && error.message === '"1A" is not a valid environment variable name');
  });
});
