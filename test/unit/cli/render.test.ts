// Ages, tables and byte sizes as printed by `heyvm list` and friends.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { age, formatBytes, table } from "../../../src/cli/render.js";

describe("age", () => {
  const now = Date.parse("2025-06-01T12:00:00.000Z");
  const ago = (seconds: number) => new Date(now - seconds * 1000).toISOString();

  test("seconds, minutes, hours, days, each rounded down at its unit", () => {
    assert.equal(age(ago(0), now), "0s");
    assert.equal(age(ago(59), now), "59s");
    assert.equal(age(ago(60), now), "1m");
    assert.equal(age(ago(3599), now), "59m");
    assert.equal(age(ago(3600), now), "1h");
    assert.equal(age(ago(86399), now), "23h");
    assert.equal(age(ago(86400), now), "1d");
    assert.equal(age(ago(40 * 86400), now), "40d");
  });

  test("a time in the future is 0s, no time or a bad one is -", () => {
    assert.equal(age(new Date(now + 5000).toISOString(), now), "0s");
    assert.equal(age(null, now), "-");
    assert.equal(age("", now), "-");
    assert.equal(age("not a date", now), "-");
  });
});

describe("table", () => {
  test("pads each column to its widest cell with two spaces between, the last column unpadded", () => {
    assert.equal(
      table(["ID", "NAME", "STATUS"], [
        ["sb-1", "wt-a-long-name", "running"],
        ["sb-22222", "x", "stopped"],
      ]),
      ["ID        NAME            STATUS", "sb-1      wt-a-long-name  running", "sb-22222  x               stopped"].join("\n"),
    );
  });

  test("short rows and empty trailing cells leave no trailing spaces", () => {
    const text = table(["A", "B"], [["x"], ["y", ""]]);
    assert.equal(text, "A  B\nx\ny");
  });

  test("headers only", () => {
    assert.equal(table(["ID", "NAME"], []), "ID  NAME");
  });
});

describe("formatBytes", () => {
  test("bytes, then binary units with one decimal under 10", () => {
    assert.equal(formatBytes(0), "0 B");
    assert.equal(formatBytes(1023), "1023 B");
    assert.equal(formatBytes(1024), "1.0 KiB");
    assert.equal(formatBytes(1536), "1.5 KiB");
    assert.equal(formatBytes(10 * 1024), "10 KiB");
    assert.equal(formatBytes(5 * 1024 ** 2), "5.0 MiB");
    assert.equal(formatBytes(123 * 1024 ** 3), "123 GiB");
    assert.equal(formatBytes(2048 * 1024 ** 4), "2048 TiB", "TiB is the largest unit");
  });
});
