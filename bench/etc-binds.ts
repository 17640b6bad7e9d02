// The start-time cost of the sandbox's /etc as links into the host's /etc bound whole
// (bubblewrap/args.ts hostEtcArgs) against the single-file binds over the host's /etc it replaced
// (which the kernel dropped whenever the host renamed a new passwd over them): bwrap set up with
// each and running `true`, interleaved, medians.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bwrapBinary, hostEtcArgs, hostProgramArgs } from "../src/backends/bubblewrap/args.js";
import { median, row, timeInterleaved } from "./lib.js";

const ROUNDS = Number(process.env.BENCH_RUNS ?? 30);

function main(): void {
  const bwrap = bwrapBinary();
  if (!bwrap) {
    console.error("bwrap is not installed");
    process.exitCode = 1;
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "heyvm-bench-etc-"));
  try {
    const passwd = join(dir, "passwd");
    const group = join(dir, "group");
    writeFileSync(passwd, "heyo:x:1000:1000:heyo:/tmp:/bin/sh\n");
    writeFileSync(group, "heyo:x:1000:\n");
    const common = ["--unshare-user", "--uid", "1000", "--gid", "1000", "--unshare-pid", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"];
    const accounts = ["--ro-bind", passwd, "/etc/passwd", "--ro-bind", group, "/etc/group"];
    const commands = {
      fileBinds: [bwrap, ...common, "--ro-bind", "/etc", "/etc", ...hostProgramArgs(), ...accounts, "--remount-ro", "/", "true"],
      etcLinks: [bwrap, ...common, ...hostEtcArgs(new Set(["passwd", "group"])), ...hostProgramArgs(), ...accounts, "--remount-ro", "/", "true"],
    };
    const times = timeInterleaved(commands, ROUNDS);
    const before = median(times.fileBinds ?? []);
    const now = median(times.etcLinks ?? []);
    console.log(`bwrap start to \`true\` (${ROUNDS} interleaved runs, medians):`);
    console.log(row("  /etc bound whole, passwd/group bound over it", `${before.toFixed(1)} ms`));
    console.log(row("  /etc as links into the host's (now)", `${now.toFixed(1)} ms`, `${(now / before).toFixed(2)}× (+${(now - before).toFixed(1)} ms)`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
