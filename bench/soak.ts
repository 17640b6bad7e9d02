// The concurrency soak (issue 8): 8 concurrent `wt --detach` over 4 branches of one repository
// per round, a `stop` racing one branch and two worktrees re-created each round, 20 rounds (or
// --rounds N / SOAK_ROUNDS). Each `git worktree add` is held half-done for 250 ms so that races
// with it show (--widen MS / SOAK_WIDEN_MS; 0 for real git only). Prints the counts; exits 1 if
// any call failed or any invariant broke.
import { hasCommand, makeTestEnv } from "../test/helpers/env.js";
import { DEFAULT_WIDEN_MS, cleanUpSoak, describeSoak, runSoak, soakPassed, type SoakReport } from "../test/helpers/soak.js";

/** A whole-number setting from `--flag N` or the environment. */
function setting(flag: string, variable: string, fallback: number, min: number): number {
  const at = process.argv.indexOf(flag);
  const value = at >= 0 ? process.argv[at + 1] : process.env[variable];
  const number = Number(value ?? fallback);
  if (!Number.isInteger(number) || number < min) throw new Error(`${flag} wants a whole number ≥ ${min}, not ${value}`);
  return number;
}

async function main(): Promise<number> {
  if (!hasCommand("bwrap")) {
    console.log("soak skipped: bubblewrap (bwrap) is not installed");
    return 0;
  }
  const rounds = setting("--rounds", "SOAK_ROUNDS", 20, 1);
  const widenWorktreeAddMs = setting("--widen", "SOAK_WIDEN_MS", DEFAULT_WIDEN_MS, 0);
  const t = makeTestEnv("heyvm-soak-");
  let report: SoakReport | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanUp = () => (cleaning ??= cleanUpSoak(t, report));
  // an interrupted soak still ends every owner it started
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      console.log(`\n${signal}: stopping every sandbox of the soak`);
      void cleanUp().finally(() => process.exit(130));
    });
  }
  console.log(`heyvm soak: ${rounds} rounds, HEYO_HOME ${t.home}\n`);
  const started = Date.now();
  try {
    report = await runSoak(t, { rounds, widenWorktreeAddMs, log: (line) => console.log(line) });
  } finally {
    await cleanUp();
  }
  console.log("");
  for (const line of describeSoak(report)) console.log(line);
  console.log(`wall time: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const passed = soakPassed(report);
  console.log(passed ? "\nPASS: every branch ended each round with one id and one owner, no errors" : "\nFAIL");
  return passed ? 0 : 1;
}

main().then((code) => process.exit(code), (error: unknown) => {
  console.error(error);
  process.exit(1);
});
