// What `heyvm test-<backend>` found on this host, kept under HEYO_HOME/self-tests/: a backend
// that has never passed its self-test here is not picked by default (firecracker).
import { hostname } from "node:os";
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { readJsonFile, str, writeJsonFile } from "../shared/json.js";
import type { HeyoHome } from "./home.js";

export interface SelfTestRecord {
  /** firecracker, libvirt or kvm. */
  subject: string;
  passed: boolean;
  at: string;
  host: string;
  /** What was tested (the firecracker binary's version, the accelerator…): a new one needs a new pass. */
  version: string;
}

function recordPath(home: HeyoHome, subject: string): string {
  return join(home.root, "self-tests", `${subject}.json`);
}

export function readSelfTest(home: HeyoHome, subject: string): SelfTestRecord | null {
  const raw = readJsonFile(recordPath(home, subject));
  if (!raw) return null;
  return { subject, passed: raw.passed === true, at: str(raw, "at") ?? "", host: str(raw, "host") ?? "", version: str(raw, "version") ?? "" };
}

export function writeSelfTest(home: HeyoHome, record: SelfTestRecord): void {
  mkdirSync(join(home.root, "self-tests"), { recursive: true });
  writeJsonFile(recordPath(home, record.subject), record);
}

/** Whether the self-test of subject has passed on this host for this version of it. */
export function passedHere(home: HeyoHome, subject: string, version: string): boolean {
  const record = readSelfTest(home, subject);
  return record !== null && record.passed && record.host === hostname() && record.version === version;
}
