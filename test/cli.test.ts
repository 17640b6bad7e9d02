// The command line itself: every command has --help, data comes out as JSON, mistakes in the
// arguments get a short message and exit code 2.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { makeTestEnv, type TestEnv } from "./helpers/env.js";

const COMMANDS = [
  [], ["wt"], ["sh"], ["exec"], ["stop"], ["logs"], ["list"], ["images"], ["images", "list"], ["images", "rm"], ["images", "build"],
  ["login"], ["logout"], ["server"], ["server", "token"],
];

describe("heyvm command line", () => {
  let t: TestEnv;
  before(() => {
    t = makeTestEnv();
  });
  after(async () => t.cleanup());

  test("every command has --help", async () => {
    for (const command of COMMANDS) {
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

  test("a Dockerfile image build without a Docker engine says what is missing", async () => {
    const result = await t.run(["images", "build", "--file", "Dockerfile", "--name", "mine"], { env: { DOCKER_HOST: "unix:///nonexistent/docker.sock" } });
    assert.equal(result.code, 5);
    assert.match(result.stderr, /no Docker engine answers/);
  });
});
