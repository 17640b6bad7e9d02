// `--cloud-url URL` is accepted by every command, and by exec also between its id and `--` (where
// SDKs put it); exec's command words are never read as options.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { takeCloudUrl } from "../../../src/cli/main.js";
import { argvWantsJson } from "../../../src/cli/output-format.js";

function take(argv: string[]): { argv: string[]; url: string | undefined } {
  const env: NodeJS.ProcessEnv = {};
  return { argv: takeCloudUrl(argv, argv.length, env), url: env.HEYO_CLOUD_URL };
}

describe("--cloud-url", () => {
  test("between exec's id and --, before the id, before the command", () => {
    assert.deepEqual(take(["exec", "dep-1", "--format", "json", "--cloud-url", "http://a", "--", "cmd"]), { argv: ["exec", "dep-1", "--format", "json", "--", "cmd"], url: "http://a" });
    assert.deepEqual(take(["exec", "dep-1", "--cloud-url=http://b", "--", "cmd"]), { argv: ["exec", "dep-1", "--", "cmd"], url: "http://b" });
    assert.deepEqual(take(["exec", "-w", "/tmp", "--cloud-url", "http://c", "dep-1", "--", "cmd"]), { argv: ["exec", "-w", "/tmp", "dep-1", "--", "cmd"], url: "http://c" });
    assert.deepEqual(take(["--cloud-url", "http://d", "list", "--cloud"]), { argv: ["list", "--cloud"], url: "http://d" });
  });

  test("exec's command words are never taken", () => {
    assert.deepEqual(take(["exec", "dep-1", "--", "tool", "--cloud-url", "http://x"]), { argv: ["exec", "dep-1", "--", "tool", "--cloud-url", "http://x"], url: undefined });
    assert.deepEqual(take(["exec", "dep-1", "tool", "--cloud-url", "http://x"]), { argv: ["exec", "dep-1", "tool", "--cloud-url", "http://x"], url: undefined });
    // an option's value is not an option, whatever it looks like
    assert.deepEqual(take(["exec", "dep-1", "-e", "--cloud-url", "--", "cmd"]), { argv: ["exec", "dep-1", "-e", "--cloud-url", "--", "cmd"], url: undefined });
  });

  test("JSON asked for before --", () => {
    assert.equal(argvWantsJson(["exec", "x", "--format", "json", "--", "cmd"]), true);
    assert.equal(argvWantsJson(["list", "--json"]), true);
    assert.equal(argvWantsJson(["create", "--format=json"]), true);
    assert.equal(argvWantsJson(["exec", "x", "--", "jq", "--json"]), false);
  });
});
