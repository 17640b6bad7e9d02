// Quoting for POSIX shells: remote commands over SSH and hook commands run by image builders.

/** Quotes one word for a POSIX shell (plain words stay as they are, for readable logs). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_/.,:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
