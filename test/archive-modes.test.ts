// Workspace archives come from clients: an entry's setuid, setgid or sticky bit must never reach
// the server's disk (a 04755 entry extracted by a root server would be a setuid-root program).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkArchive, extractArchive } from "../src/server/archives/extract.js";
import { makeTarGz } from "./helpers/cloud-tar.js";

const LIMITS = { maxBytes: 1 << 20, maxEntries: 100 };

/** The bits the process umask takes away, found without the deprecated process.umask(). */
function umaskOf(dir: string): number {
  const probe = join(dir, "umask-probe");
  writeFileSync(probe, "", { mode: 0o777 });
  const kept = statSync(probe).mode & 0o777;
  rmSync(probe);
  return 0o777 & ~kept;
}

test("extraction strips setuid, setgid and sticky bits and keeps the permission bits", async () => {
  const root = mkdtempSync(join(tmpdir(), "heyvm-modes-"));
  try {
    const archive = join(root, "workspace.tar.gz");
    writeFileSync(
      archive,
      makeTarGz([
        { path: "workspace/", type: "dir" },
        { path: "workspace/setuid-tool", content: "#!/bin/sh\nid\n", mode: 0o4755 },
        { path: "workspace/setgid-tool", content: "#!/bin/sh\nid\n", mode: 0o2750 },
        { path: "workspace/both", content: "x", mode: 0o6777 },
        { path: "workspace/shared/", type: "dir", mode: 0o1777 },
        { path: "workspace/group-dir/", type: "dir", mode: 0o2775 },
        { path: "workspace/private.txt", content: "mine", mode: 0o600 },
      ]),
    );
    assert.equal(await checkArchive(archive, LIMITS), 7, "odd modes are not a reason to refuse the archive");
    const dest = join(root, "dest");
    await extractArchive(archive, dest, LIMITS);
    const umask = umaskOf(root);
    const expected: Record<string, number> = {
      "setuid-tool": 0o755,
      "setgid-tool": 0o750,
      both: 0o777,
      shared: 0o777,
      "group-dir": 0o775,
      "private.txt": 0o600,
    };
    for (const [name, bits] of Object.entries(expected)) {
      const mode = statSync(join(dest, name)).mode;
      assert.equal(mode & 0o7000, 0, `${name} has no setuid, setgid or sticky bit (mode ${(mode & 0o7777).toString(8)})`);
      assert.equal(mode & 0o777, bits & ~umask, `${name} keeps its permission bits`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
