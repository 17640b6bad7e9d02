// Reads an operator's image catalog file: which image names each driver offers, and what each
// maps to on this host (null = the backend's default image, or the host system for bubblewrap).
import { readFileSync } from "node:fs";
import { z } from "zod";
import { describeIssues } from "../cloud/schema.js";
import { BACKEND_NAMES } from "../shared/backend-name.js";
import { UserError, errorMessage } from "../shared/errors.js";
import type { ImageCatalog } from "./config.js";

const CatalogFile = z.partialRecord(z.enum(BACKEND_NAMES), z.record(z.string().min(1), z.string().min(1).nullable()));

export function loadImageCatalog(path: string): ImageCatalog {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new UserError(`cannot read the image catalog ${path}: ${errorMessage(error)}`);
  }
  const parsed = CatalogFile.safeParse(raw);
  if (!parsed.success) throw new UserError(`the image catalog ${path} is not valid: ${describeIssues(parsed.error)}`, { hint: 'expected e.g. {"bubblewrap": {"ubuntu:24.04": null}}' });
  return parsed.data;
}
