// `heyvm list --all` over many records (issue 8): 0, 1,000 and 10,000 stopped sandboxes against
// `node -e 0` in one interleaved run, with the cost per 1,000 records, so that it is visible
// whether the cost grows linearly with the number of records.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fakeRecords, median, row, timeInterleaved } from "./lib.js";

const HEYVM = fileURLToPath(new URL("../../bin/heyvm", import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 21);

function main(): void {
  const root = mkdtempSync(join(tmpdir(), "heyvm-bench-list-"));
  try {
    const homes = { empty: join(root, "empty"), thousand: join(root, "thousand"), tenThousand: join(root, "ten-thousand") };
    fakeRecords(homes.thousand, 1000, { exitEvery: 3 });
    fakeRecords(homes.tenThousand, 10_000, { exitEvery: 3 });
    // each command has its own HEYO_HOME, and all of them run in one interleaved series
    const inHome = (home: string, ...args: string[]) => ({ argv: [HEYVM, ...args], env: { ...process.env, HEYO_HOME: home } });
    const times = timeInterleaved(
      {
        baseline: ["node", "-e", "0"],
        all0: inHome(homes.empty, "list", "--all"),
        all1k: inHome(homes.thousand, "list", "--all"),
        all10k: inHome(homes.tenThousand, "list", "--all"),
        live10k: inHome(homes.tenThousand, "list"),
      },
      RUNS,
    );
    const baseline = median(times.baseline ?? []);
    const all0 = median(times.all0 ?? []);
    const all1k = median(times.all1k ?? []);
    const all10k = median(times.all10k ?? []);
    const live10k = median(times.live10k ?? []);
    const ratio = (ms: number) => `${(ms / baseline).toFixed(2)}× baseline`;
    console.log(`heyvm list benchmark (${RUNS} interleaved runs each, medians)\n`);
    console.log(row("node -e 0 (baseline)", `${baseline.toFixed(1)} ms`));
    console.log(row("heyvm list --all (0 records)", `${all0.toFixed(1)} ms`, ratio(all0)));
    console.log(row("heyvm list --all (1,000 records)", `${all1k.toFixed(1)} ms`, `${ratio(all1k)} (target ≤ 1.3×)`));
    console.log(row("heyvm list --all (10,000 records)", `${all10k.toFixed(1)} ms`, ratio(all10k)));
    console.log(row("heyvm list (10,000 records, none live)", `${live10k.toFixed(1)} ms`, ratio(live10k)));
    console.log(row("  per 1,000 records, 0 → 1,000", `${(all1k - all0).toFixed(1)} ms`));
    console.log(row("  per 1,000 records, 1,000 → 10,000", `${((all10k - all1k) / 9).toFixed(1)} ms`, "about equal to the line above when the cost is linear"));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main();
