// The binary frames of the shell stream: exact bytes on the wire, round trips, and frames that
// are too short or of an unknown kind.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { STDIN_FRAME, STDOUT_FRAME, decodeFrame, stdinFrame, stdoutFrame } from "../../../src/cloud/shell-frames.js";

describe("shell frames", () => {
  test("stdin is 0x01 then the bytes", () => {
    assert.equal(STDIN_FRAME, 0x01);
    assert.deepEqual(stdinFrame(Buffer.from("ls\n")), Buffer.from([0x01, 0x6c, 0x73, 0x0a]));
  });

  test("stdout is 0x02, an 8-byte big-endian sequence number, then the bytes", () => {
    assert.equal(STDOUT_FRAME, 0x02);
    assert.deepEqual(stdoutFrame(258, Buffer.from("hi")), Buffer.from([0x02, 0, 0, 0, 0, 0, 0, 0x01, 0x02, 0x68, 0x69]));
  });

  test("round trips, including empty payloads, binary bytes and large sequence numbers", () => {
    const binary = Buffer.from([0x00, 0xff, 0x01, 0x02, 0x1b]);
    for (const data of [Buffer.alloc(0), Buffer.from("é\r\n"), binary, Buffer.alloc(70000, 7)]) {
      assert.deepEqual(decodeFrame(stdinFrame(data)), { kind: "stdin", data });
      for (const seq of [0, 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
        assert.deepEqual(decodeFrame(stdoutFrame(seq, data)), { kind: "stdout", seq, data });
      }
    }
  });

  test("a stdout frame shorter than its header, an empty frame and other kinds are unknown", () => {
    assert.deepEqual(decodeFrame(Buffer.alloc(0)), { kind: "unknown" });
    assert.deepEqual(decodeFrame(Buffer.from([0x02])), { kind: "unknown" });
    assert.deepEqual(decodeFrame(Buffer.from([0x02, 0, 0, 0, 0, 0, 0, 0])), { kind: "unknown" }, "8 bytes: one short");
    assert.deepEqual(decodeFrame(Buffer.from([0x02, 0, 0, 0, 0, 0, 0, 0, 5])), { kind: "stdout", seq: 5, data: Buffer.alloc(0) }, "9 bytes: header only");
    for (const kind of [0x00, 0x03, 0x7b, 0xff]) assert.deepEqual(decodeFrame(Buffer.from([kind, 1, 2, 3, 4, 5, 6, 7, 8, 9])), { kind: "unknown" }, String(kind));
  });

  test("a sequence number that is not a whole number is refused", () => {
    assert.throws(() => stdoutFrame(1.5, Buffer.alloc(0)), RangeError);
  });
});
