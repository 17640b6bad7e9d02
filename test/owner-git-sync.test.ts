// The native monitor's git sync trigger (native/monitor/git-sync.c), run directly with a stand-in
// machine (sleep) and a stand-in sync command (a shell line that counts its runs): a change it
// watches runs the sync at once; the periodic run starts the command only when something it would
// read changed (including refs in subfolders inotify does not watch) or the last run failed, so an
// idle sandbox does not start Node every interval.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MONITOR_API_VERSION } from "../src/owner/monitor-argv.js";
import { handleFd } from "../src/shared/handle-fd.js";

const MONITOR = fileURLToPath(new URL("../../build/Release/heyvm-owner-monitor", import.meta.url));
const skip = !existsSync(MONITOR) ? `the native owner monitor is not built (${MONITOR}); run npm run build` : false;
const INTERVAL_MS = 250;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the monitor's periodic git sync", { skip }, () => {
  let root = "";
  let server: Server | undefined;
  let monitor: ChildProcess | undefined;
  const runs = () => (existsSync(join(root, "runs")) ? readFileSync(join(root, "runs"), "utf8").split("\n").filter(Boolean).length : 0);

  before(async () => {
    root = mkdtempSync(join(tmpdir(), "heyvm-git-trigger-"));
    mkdirSync(join(root, "refs", "nested"), { recursive: true });
    writeFileSync(join(root, "branch"), "1\n");
    writeFileSync(join(root, "ok"), "");
    const listening = createServer();
    server = listening;
    await new Promise<void>((resolve) => listening.listen(join(root, "owner.sock"), resolve));
    const listenFd = handleFd(listening);
    assert.ok(listenFd !== undefined);
    const sync = `echo run >> ${root}/runs; test -e ${root}/ok`;
    const argv = [
      MONITOR, "__sandbox_owner", "sb-0000aaaa", "--monitor", "--api-version", String(MONITOR_API_VERSION),
      "--log", join(root, "owner.log"), "--owner-json", join(root, "owner.json"), "--exit-json", join(root, "exit.json"),
      "--live", join(root, "live"), "--changed", join(root, "changed"), "--socket", join(root, "owner.sock"), "--listen-fd", "3",
      "--stop-timeout-ms", "5000", "--force-wait-ms", "2000",
      "--git-watch", join(root, "branch"), "--git-watch", join(root, "refs", "*"),
      "--git-sync-arg", "/bin/sh", "--git-sync-arg", "-c", "--git-sync-arg", sync, "--git-sync-interval-ms", String(INTERVAL_MS),
    ];
    // sh starts the stand-in machine, then becomes the monitor, whose child it therefore is
    monitor = spawn("/bin/sh", ["-c", 'sleep 300 & exec "$@" --child "$!" --child-name sleep -- /bin/true', "sh", ...argv], { stdio: ["ignore", "ignore", "ignore", listenFd] });
  });

  after(async () => {
    if (monitor?.pid && monitor.exitCode === null) {
      const exited = new Promise((resolve) => monitor?.once("exit", resolve));
      monitor.kill("SIGTERM"); // a stop: /bin/true, then the machine is ended by force
      await exited;
    }
    server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  test("idle: the first periodic run, then none while nothing changes", async () => {
    await sleep(INTERVAL_MS * 6);
    assert.equal(runs(), 1, `runs in ${INTERVAL_MS * 6} ms at a ${INTERVAL_MS} ms interval`);
  });

  test("a watched file that changes runs it at once", async () => {
    writeFileSync(join(root, "branch"), "2\n");
    await sleep(150);
    assert.equal(runs(), 2);
  });

  test("a ref in a subfolder of a `*` watch (no inotify watch there) runs it at the next interval, once", async () => {
    writeFileSync(join(root, "refs", "nested", "feature"), "3\n");
    await sleep(INTERVAL_MS * 2 + 150);
    assert.equal(runs(), 3);
    await sleep(INTERVAL_MS * 3);
    assert.equal(runs(), 3);
  });

  test("a run that failed is tried again at each interval", async () => {
    rmSync(join(root, "ok"));
    writeFileSync(join(root, "branch"), "4\n");
    await sleep(INTERVAL_MS * 4 + 150);
    assert.ok(runs() >= 6, `${runs()} runs`);
    writeFileSync(join(root, "ok"), "");
    await sleep(INTERVAL_MS * 2);
    const settled = runs();
    await sleep(INTERVAL_MS * 3);
    assert.equal(runs(), settled);
  });
});
