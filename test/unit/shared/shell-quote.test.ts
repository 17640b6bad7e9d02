// POSIX shell quoting, checked against a real shell's word splitting.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { shellQuote } from "../../../src/shared/shell-quote.js";

test("plain words stay as they are", () => {
  for (const word of ["ls", "/usr/bin/env", "a.b,c:d=e@f%g+h-i_j", "KEY=value", "-la"]) assert.equal(shellQuote(word), word);
});

test("anything else is single-quoted, with embedded quotes closed and escaped", () => {
  assert.equal(shellQuote("two words"), "'two words'");
  assert.equal(shellQuote(""), "''");
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
  assert.equal(shellQuote("$HOME"), "'$HOME'");
  assert.equal(shellQuote("a;rm -rf /"), "'a;rm -rf /'");
  assert.equal(shellQuote("*"), "'*'");
});

test("sh reads every quoted word back as exactly the original", () => {
  const words = ["", "it's", `"double"`, "$(echo x) `y` $HOME", "a\nb", "tab\there", "back\\slash", "*?[]~!#&|<>(){}", "'", "''"];
  const script = `for w in ${words.map(shellQuote).join(" ")}; do printf '%s\\0' "$w"; done`;
  const result = spawnSync("sh", ["-c", script], { encoding: "utf8", env: { PATH: "/usr/bin:/bin" } });
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(result.stdout.split("\0").slice(0, -1), words);
});
