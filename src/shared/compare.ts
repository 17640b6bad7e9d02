// Ordering by code points. ISO timestamps and ids sort correctly this way, and unlike
// localeCompare it does not start ICU's collator (about 6 ms, on every `heyvm list`).
export function compareCodePoints(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
