// Small, fast readers for JSON records: `heyvm list` parses a thousand of them per call, so a
// schema library's start-up cost is not worth it here.
import { readFileSync, writeFileSync, renameSync } from "node:fs";
import { isErrnoError } from "./errors.js";

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Reads a JSON object from a file; undefined when the file does not exist or is not an object. */
export function readJsonFile(path: string): JsonObject | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if (isErrnoError(error) && (error.code === "ENOENT" || error.code === "ENOTDIR")) return undefined;
    throw error;
  }
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined; // a torn or hand-edited file reads as absent, never as a crash
  }
}

/** Writes JSON atomically (temp file + rename) so readers never see half a record. */
export function writeJsonFile(path: string, value: unknown, mode = 0o644): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(value, null, 2)}\n`, { mode });
  renameSync(temp, path);
}

export function str(record: JsonObject, key: string): string | undefined {
  const value = record[key];
  return typeof value === "string" ? value : undefined;
}

export function num(record: JsonObject, key: string): number | undefined {
  const value = record[key];
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}
