// Makes the Firecracker stand-in (firecracker-stand-in.ts) runnable as a binary, for
// HEYVM_FIRECRACKER: a small sh script that runs it with this node.
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const STAND_IN_SCRIPT = fileURLToPath(new URL("./firecracker-stand-in.js", import.meta.url));

/** Writes <dir>/firecracker (the stand-in) and returns its path. */
export function writeStandInExecutable(dir: string): string {
  const path = join(dir, "firecracker");
  writeFileSync(path, `#!/bin/sh\n# heyvm's Firecracker stand-in (QEMU microvm), a test helper: not Firecracker\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(STAND_IN_SCRIPT)} "$@"\n`);
  chmodSync(path, 0o755);
  return path;
}
