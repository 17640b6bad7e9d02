// Text a sandbox produced, made safe to show on a terminal: what a terminal would act on (escape
// sequences, C1 controls, carriage returns) or what hides or reorders text (bidirectional
// overrides, zero-width and tag characters) is shown as a visible escape instead, so that guest
// output can neither drive the user's terminal (titles, clipboard writes, cursor moves) nor
// pass for heyvm's own lines. Newlines and tabs stay; nothing is dropped.

/**
 * Characters shown escaped: C0 controls but tab and newline, DEL and C1, the soft hyphen, the
 * bidirectional marks, embeddings, overrides and isolates, zero-width and invisible operators,
 * line/paragraph separators, the byte-order mark, interlinear annotation marks and the tag
 * characters (invisible ASCII look-alikes). A backslash is left as it is, so escaping twice
 * changes nothing.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const SHOWN_ESCAPED = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\u{e0000}-\u{e007f}]/gu;

function escapeCharacter(character: string): string {
  const code = character.codePointAt(0) ?? 0;
  if (code < 0x20) return `\\x${code.toString(16).padStart(2, "0")}`;
  // \uXXXX (a surrogate pair above the BMP) is also a valid JSON escape of the same character
  return [...character]
    .flatMap((c) => (c.length === 2 ? [c.charCodeAt(0), c.charCodeAt(1)] : [c.charCodeAt(0)]))
    .map((unit) => `\\u${unit.toString(16).padStart(4, "0")}`)
    .join("");
}

/** The text with every character a terminal would act on or hide shown as an escape. */
export function escapeControls(text: string): string {
  return text.replace(SHOWN_ESCAPED, escapeCharacter);
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** How many bytes the UTF-8 sequence at `at` takes, or 0 when it is not valid UTF-8 there. */
function sequenceLength(bytes: Uint8Array, at: number): number {
  const first = bytes[at] ?? 0;
  if (first < 0x80) return 1;
  const continuation = (offset: number, low = 0x80, high = 0xbf) => {
    const byte = bytes[at + offset];
    return byte !== undefined && byte >= low && byte <= high;
  };
  if (first >= 0xc2 && first <= 0xdf) return continuation(1) ? 2 : 0;
  if (first >= 0xe0 && first <= 0xef) {
    // no overlong forms (e0 a0..), no surrogates (ed 80..9f)
    const low = first === 0xe0 ? 0xa0 : 0x80;
    const high = first === 0xed ? 0x9f : 0xbf;
    return continuation(1, low, high) && continuation(2) ? 3 : 0;
  }
  if (first >= 0xf0 && first <= 0xf4) {
    const low = first === 0xf0 ? 0x90 : 0x80;
    const high = first === 0xf4 ? 0x8f : 0xbf;
    return continuation(1, low, high) && continuation(2) && continuation(3) ? 4 : 0;
  }
  return 0;
}

/**
 * Bytes a sandbox wrote, as text safe for a terminal: valid UTF-8 is decoded and escaped as
 * escapeControls does, and each byte that is not valid UTF-8 is shown as \xHH (never silently
 * replaced, so what was there stays visible).
 */
export function decodeUntrusted(bytes: Uint8Array): string {
  try {
    return escapeControls(STRICT_UTF8.decode(bytes)); // the usual case: all of it is valid UTF-8
  } catch {
    // some bytes are not: shown one by one below
  }
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let text = "";
  let start = 0;
  let at = 0;
  while (at < buffer.length) {
    const length = sequenceLength(buffer, at);
    if (length > 0) {
      at += length;
      continue;
    }
    text += `${buffer.toString("utf8", start, at)}\\x${(buffer[at] ?? 0).toString(16).padStart(2, "0")}`;
    at += 1;
    start = at;
  }
  return escapeControls(text + buffer.toString("utf8", start, at));
}
