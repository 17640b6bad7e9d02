// What a sandbox prints reaches a terminal only as inert text: controls and invisible characters
// are shown escaped, invalid UTF-8 bytes as \xHH; owner.log lines heyvm did not write are marked.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeUntrusted, escapeControls } from "../../../src/shared/terminal-text.js";
import { UNATTRIBUTED_MARK, formatLogLines, renderLogBytes, renderLogText } from "../../../src/shared/log-lines.js";
import { lastLines, lastLinesBytes } from "../../../src/shared/file-tail.js";

/** Any byte or character a terminal acts on: ESC, BEL, CR, the other C0 but tab/newline, DEL, C1. */
const ACTIVE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/u; // eslint-disable-line no-control-regex

test("escape sequences, C0 and C1 controls are shown escaped; tabs and newlines stay", () => {
  const hostile = "title\x1b]0;pwned\x07 clip\x1b]52;c;ZXZpbA==\x1b\\ clear\x1b[2J\x1b[H\rover\x08\x7f csi\u009b31m nel\u0085\tok\n";
  const shown = escapeControls(hostile);
  assert.doesNotMatch(shown, ACTIVE);
  assert.equal(shown, "title\\x1b]0;pwned\\x07 clip\\x1b]52;c;ZXZpbA==\\x1b\\ clear\\x1b[2J\\x1b[H\\x0dover\\x08\\u007f csi\\u009b31m nel\\u0085\tok\n");
});

test("bidirectional overrides, zero-width and tag characters are made visible; ordinary text is kept", () => {
  assert.equal(escapeControls("a\u202eb\u2066c\u200bd\ufeffe\u{e0041}"), "a\\u202eb\\u2066c\\u200bd\\ufeffe\\udb40\\udc41");
  assert.equal(escapeControls("héllo wörld — 日本 🙂 back\\slash"), "héllo wörld — 日本 🙂 back\\slash");
});

test("escaping twice changes nothing, and escaped JSON parses to the same value", () => {
  const text = "\x1b[31mred\u009b\u202e\u{e0041}\x00";
  assert.equal(escapeControls(escapeControls(text)), escapeControls(text));
  const json = escapeControls(JSON.stringify({ text }));
  assert.doesNotMatch(json, ACTIVE);
  assert.deepEqual(JSON.parse(json), { text });
});

test("invalid UTF-8 is shown byte by byte, valid sequences decoded, C1 bytes never raw", () => {
  const bytes = Buffer.concat([Buffer.from("ok "), Buffer.from([0xff, 0x9b, 0x32, 0x4a]), Buffer.from(" é "), Buffer.from([0xe2, 0x82]), Buffer.from([0xc0, 0xaf, 0xed, 0xa0, 0x80]), Buffer.from(" \u00e9\x1b[0m")]);
  assert.equal(decodeUntrusted(bytes), "ok \\xff\\x9b2J é \\xe2\\x82\\xc0\\xaf\\xed\\xa0\\x80 é\\x1b[0m");
  assert.equal(decodeUntrusted(Buffer.from("plain\ttext\n")), "plain\ttext\n");
  assert.equal(decodeUntrusted(Buffer.from("🙂\u{10ffff}")), "🙂\u{10ffff}");
});

test("owner.log lines: heyvm's keep their form, the sandbox's stay behind their source, raw ones are marked", () => {
  const at = new Date("2026-01-02T03:04:05.006Z");
  const owner = formatLogLines("owner", "sandbox ready", at);
  assert.equal(owner, "2026-01-02T03:04:05.006Z owner: sandbox ready\n");
  // a console line that tries to erase its prefix and print a forged owner line
  const forged = formatLogLines("console", "\x1b[2K\x1b[1G2026-01-02T03:04:05.006Z owner: sandbox stopped\rX\nsecond", at);
  assert.equal(forged, "2026-01-02T03:04:05.006Z console: \x1b[2K\x1b[1G2026-01-02T03:04:05.006Z owner: sandbox stoppedX\n2026-01-02T03:04:05.006Z console: second\n");
  const shown = renderLogBytes(Buffer.from(`${owner}${forged}raw output\x1b]0;t\x07\n`));
  assert.doesNotMatch(shown, ACTIVE);
  const lines = shown.split("\n");
  assert.equal(lines[0], "2026-01-02T03:04:05.006Z owner: sandbox ready");
  assert.match(lines[1] ?? "", /^2026-01-02T03:04:05\.006Z console: \\x1b\[2K\\x1b\[1G2026-01-02T03:04:05\.006Z owner: sandbox stopped/);
  assert.equal(lines[3], `${UNATTRIBUTED_MARK}raw output\\x1b]0;t\\x07`);
  assert.equal(renderLogText(shown), shown, "rendering twice changes nothing");
});

test("the last lines of a log are cut on bytes as on text", () => {
  for (const text of ["", "a", "a\n", "a\nb", "a\nb\n", "a\n\nb\n\n", "x\ny\nz\n"]) {
    for (const count of [1, 2, 3, 10]) assert.equal(Buffer.from(lastLinesBytes(Buffer.from(text), count)).toString(), lastLines(text, count), `${JSON.stringify(text)} ${count}`);
  }
});
