// Binary frames of the shell stream (ARCHITECTURE.md §5): stdin is 0x01 + bytes; stdout is 0x02 + an
// 8-byte big-endian sequence number + bytes. Shared by the client and the server.

export const STDIN_FRAME = 0x01;
export const STDOUT_FRAME = 0x02;

export function stdinFrame(data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([STDIN_FRAME]), data]);
}

export function stdoutFrame(seq: number, data: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header[0] = STDOUT_FRAME;
  header.writeBigUInt64BE(BigInt(seq), 1);
  return Buffer.concat([header, data]);
}

export type DecodedFrame = { kind: "stdin"; data: Buffer } | { kind: "stdout"; seq: number; data: Buffer } | { kind: "unknown" };

export function decodeFrame(frame: Buffer): DecodedFrame {
  if (frame[0] === STDIN_FRAME) return { kind: "stdin", data: frame.subarray(1) };
  if (frame[0] === STDOUT_FRAME && frame.length >= 9) return { kind: "stdout", seq: Number(frame.readBigUInt64BE(1)), data: frame.subarray(9) };
  return { kind: "unknown" };
}
