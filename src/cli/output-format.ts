// `--format json|table` (heyvm's scripting dialect) and `--json`, on every command that prints
// data: declared once, read once.
import type { OptionSpec } from "./command.js";

export const FORMAT_OPTIONS: OptionSpec[] = [
  { flags: "--format <format>", description: "json or table (default table)", choices: ["json", "table"] },
  { flags: "--json", description: "print JSON (the same as --format json)" },
];

export interface FormatFlags {
  format?: string;
  json?: boolean;
}

export function wantsJson(flags: FormatFlags): boolean {
  return flags.json === true || flags.format === "json";
}

/** Whether argv asks for JSON before any `--` (for errors found before a command's flags are parsed). */
export function argvWantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  const words = end < 0 ? argv : argv.slice(0, end);
  return words.some((word, i) => word === "--json" || word === "--format=json" || (word === "json" && words[i - 1] === "--format"));
}
