// The small JSON record helpers: absent and torn files read as undefined, other I/O errors are
// not hidden, writes are atomic and keep the asked mode, field readers check types.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isObject, num, readJsonFile, str, writeJsonFile } from "../../../src/shared/json.js";
import { withTempDir } from "../helpers/fixtures.js";

describe("readJsonFile / writeJsonFile", () => {
  test("round-trips an object, pretty-printed with a final newline, leaving no temp file", () =>
    withTempDir((dir) => {
      const path = join(dir, "r.json");
      writeJsonFile(path, { a: 1, b: ["x", null], c: { d: true } });
      assert.deepEqual(readJsonFile(path), { a: 1, b: ["x", null], c: { d: true } });
      assert.equal(readFileSync(path, "utf8"), `{\n  "a": 1,\n  "b": [\n    "x",\n    null\n  ],\n  "c": {\n    "d": true\n  }\n}\n`);
      assert.deepEqual(readdirSync(dir), ["r.json"]);
    }));

  test("writes with the given mode", () =>
    withTempDir((dir) => {
      const path = join(dir, "secret.json");
      writeJsonFile(path, { token: "t" }, 0o600);
      assert.equal(statSync(path).mode & 0o777, 0o600);
    }));

  test("replaces an existing file whole", () =>
    withTempDir((dir) => {
      const path = join(dir, "r.json");
      writeJsonFile(path, { long: "x".repeat(1000) });
      writeJsonFile(path, { short: 1 });
      assert.deepEqual(readJsonFile(path), { short: 1 });
    }));

  test("undefined for a missing file, a path through a file, torn JSON and non-objects", () =>
    withTempDir((dir) => {
      assert.equal(readJsonFile(join(dir, "missing.json")), undefined);
      writeFileSync(join(dir, "plain"), "x");
      assert.equal(readJsonFile(join(dir, "plain", "r.json")), undefined, "ENOTDIR");
      for (const text of ["{", `{"a": 1,}`, "[1,2]", "42", "null", ""]) {
        writeFileSync(join(dir, "r.json"), text);
        assert.equal(readJsonFile(join(dir, "r.json")), undefined, text);
      }
    }));

  test("other I/O errors are thrown, not read as absent", () =>
    withTempDir((dir) => {
      mkdirSync(join(dir, "folder.json"));
      assert.throws(() => readJsonFile(join(dir, "folder.json")), { code: "EISDIR" });
    }));
});

describe("field readers", () => {
  test("isObject accepts only plain objects", () => {
    assert.equal(isObject({}), true);
    for (const value of [null, [], "x", 1, undefined, true]) assert.equal(isObject(value), false, String(value));
  });

  test("str and num return the value only when it has the right type", () => {
    const record = { s: "x", empty: "", n: 3, zero: 0, numText: "3", flag: true, nothing: null };
    assert.equal(str(record, "s"), "x");
    assert.equal(str(record, "empty"), "");
    assert.equal(str(record, "n"), undefined);
    assert.equal(str(record, "missing"), undefined);
    assert.equal(num(record, "n"), 3);
    assert.equal(num(record, "zero"), 0);
    assert.equal(num(record, "numText"), undefined);
    assert.equal(num(record, "flag"), undefined);
    assert.equal(num(record, "nothing"), undefined);
  });
});
