// The command line itself: every command has --help, data comes out as JSON, mistakes in the
// arguments get a short message and exit code 2.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { makeTestEnv, type TestEnv } from "./helpers/env.js";
import type { CommandSpec } from "../src/cli/command.js";
import { COMMAND_LOADERS } from "../src/cli/commands/index.js";
import { COMMAND_NAMES, INTERNAL_COMMANDS } from "../src/cli/commands/names.js";

/** Every command path a user can type (top-level and nested), from the CLI's own list. */
async function commandPaths(): Promise<string[][]> {
  const paths: string[][] = [[]];
  const walk = (spec: CommandSpec<never>, prefix: string[]) => {
    const path = [...prefix, spec.name];
    paths.push(path);
    for (const sub of spec.subcommands ?? []) walk(sub, path);
  };
  for (const name of COMMAND_NAMES.filter((n) => !INTERNAL_COMMANDS.includes(n))) walk(await COMMAND_LOADERS[name](), []);
  return paths;
}

describe("heyvm command line", () => {
  let t: TestEnv;
  before(() => {
    t = makeTestEnv();
  });
  after(async () => t.cleanup());

  test("every command has --help", async () => {
    const commands = await commandPaths();
    assert.ok(commands.length >= 15, `the command list has every command (${commands.length})`);
    for (const command of commands) {
      const result = await t.run([...command, "--help"]);
      assert.equal(result.code, 0, `${command.join(" ")} --help: ${result.stderr}`);
      assert.match(result.stdout, /^Usage: heyvm/m, command.join(" "));
    }
  });

  test("--version, JSON output and argument mistakes", async () => {
    const version = await t.run(["--version"]);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
    const list = await t.run(["list", "--all", "--json"]);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout), []);
    const images = await t.run(["images", "list", "--json"]);
    assert.deepEqual(JSON.parse(images.stdout), []);
    for (const args of [["bogus"], ["wt", "--bogus-flag"], ["exec"], ["logs", "x", "-n", "many"]]) {
      const result = await t.run(args);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
    }
  });

  test("the fast-path bundle leaves out image building (only starts need it), and exec and list still go through it", async () => {
    const fast = readFileSync(fileURLToPath(new URL("../../dist/bundle/fast.cjs", import.meta.url)), "utf8");
    for (const module of ["images/vm/build.js", "images/vm/prepare.js", "images/vm/verify.js", "images/firecracker/build.js"]) {
      assert.ok(fast.includes(`internal error: ../../${module} is not in the fast-path bundle`), `${module} is a placeholder in fast.cjs`);
    }
    for (const builderCode of ["mmdebstrap", "mke2fs"]) assert.ok(!fast.includes(builderCode), `no image-building code (${builderCode}) in fast.cjs`);
    // HEYVM_FAST=0: no native launcher, so Node answers these from fast.cjs
    const list = await t.run(["list", "--all", "--json"], { env: { HEYVM_FAST: "0" } });
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout), []);
    const exec = await t.run(["exec", "sb-00000000", "--", "true"], { env: { HEYVM_FAST: "0" } });
    assert.equal(exec.code, 3, exec.stderr);
    assert.doesNotMatch(exec.stderr, /internal error|\n\s+at /);
  });

  test("a Dockerfile image build without a Docker engine says what is missing", async () => {
    const result = await t.run(["images", "build", "--file", "Dockerfile", "--name", "mine"], { env: { DOCKER_HOST: "unix:///nonexistent/docker.sock" } });
    assert.equal(result.code, 5);
    assert.match(result.stderr, /no Docker engine answers/);
  });
});
