// Benchmark: `wt --deploy` of a 200 MB worktree of 20,000 files against a local `heyvm server`
// (bubblewrap driver), split into archive / upload / start, next to `tar czf` of the same tree
// and `tar xzf` of the same archive (before and after each deploy), timed in the same rounds.
// Usage: node dist/bench/deploy.js [--files 20000] [--mb 200] [--runs 3]
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CloudClient } from "../src/cloud/client.js";
import { deployWorktree } from "../src/core/deploy.js";
import { heyoHome } from "../src/state/home.js";
import { createToken, startCloudServer } from "../test/helpers/cloud-server.js";
import { median, row } from "./lib.js";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const FILES = arg("files", 20_000);
const MB = arg("mb", 200);
const RUNS = arg("runs", 3);

/** Source-like text (words from a small vocabulary, pseudo-random): compresses about like code. */
function makeTree(root: string): void {
  const words = "const let function return import export from if else for while class interface type async await new this null undefined true false string number".split(" ");
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const perFile = Math.floor((MB * 1024 * 1024) / FILES);
  const chunk: string[] = [];
  let size = 0;
  while (size < perFile * 4) {
    const word = `${words[Math.floor(random() * words.length)]}${Math.floor(random() * 1000)}`;
    chunk.push(word);
    size += word.length + 1;
    if (random() < 0.1) chunk.push("\n");
  }
  const text = chunk.join(" ");
  for (let i = 0; i < FILES; i++) {
    const dir = join(root, `pkg${i % 100}`, `mod${Math.floor(i / 100) % 20}`);
    if (i < 2000) mkdirSync(dir, { recursive: true });
    const offset = Math.floor(random() * (text.length - perFile));
    writeFileSync(join(dir, `file${i}.ts`), text.slice(offset, offset + perFile));
  }
}

function git(cwd: string, ...args: string[]): void {
  const result = spawnSync("git", args, { cwd, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`git ${args.join(" ")}: ${result.stderr}`);
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "heyvm-bench-deploy-"));
  const repo = join(root, "repo");
  const server = await startCloudServer({ dataDir: join(root, "srv"), args: ["--max-upload-mb", "4096"] });
  try {
    mkdirSync(repo, { recursive: true });
    git(repo, "init", "-q", "-b", "main");
    git(repo, "-c", "user.email=b@b", "-c", "user.name=b", "commit", "-q", "--allow-empty", "-m", "init");
    const made = performance.now();
    makeTree(repo);
    console.log(`tree: ${FILES} files, ${MB} MB (made in ${Math.round(performance.now() - made)} ms); ${RUNS} runs each`);
    const token = createToken(server.dataDir, "bench");
    const client = new CloudClient({ baseUrl: server.url, token });
    const home = heyoHome({ HEYO_HOME: join(root, "heyo") });
    const quiet = { progress: () => undefined, info: () => undefined };

    // each round times the baselines and a deploy one after another, so that drift in the disk's
    // speed (other work on the machine) affects both sides of each ratio alike
    const tarTimes: number[] = [];
    const untarTimes: number[] = [];
    const roundRatios: number[] = [];
    const phases = { archive: [] as number[], upload: [] as number[], start: [] as number[], total: [] as number[] };
    let archiveSize = 0;
    let tarSize = 0;
    for (let i = 0; i < RUNS; i++) {
      const start = performance.now();
      const packed = spawnSync("tar", ["czf", join(root, "plain.tar.gz"), "--exclude=.git", "."], { cwd: repo });
      if (packed.status !== 0) throw new Error(`tar czf failed: ${String(packed.stderr)}`);
      tarTimes.push(performance.now() - start);
      tarSize = Number(spawnSync("stat", ["-c", "%s", join(root, "plain.tar.gz")], { encoding: "utf8" }).stdout.trim());
      // data still being written back (or a tree being deleted) would slow whatever is timed next:
      // every timed unpack starts with nothing pending on the disk (rm, then sync)
      const untar = (): number => {
        const out = join(root, "untar");
        rmSync(out, { recursive: true, force: true });
        mkdirSync(out);
        spawnSync("sync");
        const began = performance.now();
        const unpacked = spawnSync("tar", ["xzf", join(root, "plain.tar.gz"), "-C", out]);
        if (unpacked.status !== 0) throw new Error(`tar xzf failed: ${String(unpacked.stderr)}`);
        return performance.now() - began;
      };
      const untarBefore = untar();
      spawnSync("sync");

      const begin = performance.now();
      const result = await deployWorktree(home, client, { branch: "main", cwd: repo, driver: "bubblewrap", image: "ubuntu:24.04", region: "US", ports: [], ignore: true }, { reporter: quiet });
      phases.total.push(performance.now() - begin);
      phases.archive.push(result.timings.archiveMs);
      phases.upload.push(result.timings.uploadMs);
      phases.start.push(result.timings.startMs);
      archiveSize = result.archive.sizeBytes;
      const check = await client.exec(result.deployment.id, { command: "find . -type f | wc -l" });
      if (Number(check.stdout.trim()) !== FILES) throw new Error(`the sandbox has ${check.stdout.trim()} files, expected ${FILES}`);
      await client.remove(result.deployment.id);
      // the baseline again after the deploy: the round's ratio is against the two around it
      const untarAfter = untar();
      rmSync(join(root, "untar"), { recursive: true, force: true });
      untarTimes.push(untarBefore, untarAfter);
      roundRatios.push(result.timings.startMs / ((untarBefore + untarAfter) / 2));
    }
    const ms = (values: number[]) => `${Math.round(median(values))} ms`;
    console.log(row("tar czf (same tree, baseline)", ms(tarTimes), `${(tarSize / 1048576).toFixed(1)} MiB`));
    console.log(row("deploy: archive (git ls-files + tar.gz)", ms(phases.archive), `${(archiveSize / 1048576).toFixed(1)} MiB, ${(median(phases.archive) / median(tarTimes)).toFixed(2)}× tar czf`));
    console.log(row("deploy: upload (presign, PUT, finalize)", ms(phases.upload), `${((archiveSize / 1048576) / (median(phases.upload) / 1000)).toFixed(0)} MiB/s incl. server-side check`));
    console.log(row("tar xzf (same archive, baseline)", ms(untarTimes), "the floor for unpacking on this disk"));
    const unpackTimes = [...server.log().matchAll(/unpacked arc-[0-9a-f]+ into its workspace in (\d+) ms/g)].map((m) => Number(m[1]));
    console.log(row("server: unpack alone (streaming, in a worker)", ms(unpackTimes), `${(median(unpackTimes) / median(untarTimes)).toFixed(2)}× tar xzf`));
    console.log(row("deploy: start (create, extract, boot, ready)", ms(phases.start), `${(median(phases.start) / median(untarTimes)).toFixed(2)}× tar xzf`));
    const rounds = phases.start.map((start, i) => `${Math.round(untarTimes[2 * i] ?? 0)}/${Math.round(start)}/${Math.round(untarTimes[2 * i + 1] ?? 0)}`);
    console.log(`per round, tar xzf before / start / tar xzf after: ${rounds.join(", ")} ms`);
    console.log(row("deploy: start against the tar xzf around it", `${median(roundRatios).toFixed(2)}×`, `median of the rounds' ratios (${roundRatios.map((r) => r.toFixed(2)).join(", ")})`));
    console.log(row("deploy: total", ms(phases.total), `${(median(phases.total) / (median(tarTimes) + median(untarTimes))).toFixed(2)}× (tar czf + tar xzf)`));
  } finally {
    await server.cleanup();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
