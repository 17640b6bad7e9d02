// A bubblewrap sandbox's /etc while the host changes its own: heyvm's passwd and group (heyo as
// uid 1000) and its resolv.conf must stay what the sandbox reads when the host renames new files
// over /etc/passwd, /etc/group (any useradd/userdel) and /etc/resolv.conf. A read-only bind over
// the host's file was dropped by the kernel at that rename, and the sandbox then read the host's
// (`id -un` printed a host name). Run with heyvm as root and as a non-root user the test makes
// (hvetc1); the host user added and removed meanwhile is hvetc2.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bubblewrapMissing, idOf, makeRepo, makeTestEnv, type RunResult, type TestEnv } from "./helpers/env.js";

const asRoot = process.getuid?.() === 0;
const skip = bubblewrapMissing() || (!asRoot ? "needs root (to add and remove host users, and to create the test user)" : false);
const HOST_USER = "hvetc2";
const HEYO_LINE = "heyo:x:1000:1000:heyo:/home/heyo:/bin/bash";

/** Replaces a host file by a rename, as useradd does, keeping its content, owner and mode. */
function replaceByRename(path: string): void {
  const next = `${path}.hvetc-new`;
  copyFileSync(path, next);
  const stat = statSync(path);
  chmodSync(next, stat.mode & 0o7777);
  spawnSync("chown", [`${stat.uid}:${stat.gid}`, next]);
  renameSync(next, path);
}

const PROBE = [
  "id -un",
  "getent passwd heyo",
  `getent passwd ${HOST_USER} || echo "no ${HOST_USER}"`,
  "getent group heyo",
  "head -n 1 /etc/resolv.conf",
  "echo x > /etc/passwd 2>/dev/null && echo passwd-writable || echo passwd-read-only",
  "echo x > /etc/heyvm-probe 2>/dev/null && echo etc-writable || echo etc-read-only",
].join("; ");

/** What the sandbox must read whatever the host did meanwhile. */
function assertHeyvmAccounts(probe: RunResult, when: string): void {
  assert.equal(probe.code, 0, `${when}: ${probe.stderr}`);
  const [name, heyo, hostUser, group, resolv, passwdWrite, etcWrite] = probe.stdout.trim().split("\n");
  assert.equal(name, "heyo", `${when}: id -un inside`);
  assert.equal(heyo, HEYO_LINE, `${when}: getent passwd heyo`);
  assert.equal(hostUser, `no ${HOST_USER}`, `${when}: the host's new user is not in the sandbox's passwd`);
  assert.equal(group, "heyo:x:1000:", `${when}: getent group heyo`);
  assert.match(resolv ?? "", /made by heyvm/, `${when}: /etc/resolv.conf is heyvm's`);
  assert.equal(passwdWrite, "passwd-read-only", when);
  assert.equal(etcWrite, "etc-read-only", when);
}

/** One sandbox's run through the host's changes: useradd, a replaced resolv.conf, userdel. */
async function survivesHostChanges(exec: (script: string) => Promise<RunResult>): Promise<void> {
  assertHeyvmAccounts(await exec(PROBE), "before the host changed anything");
  try {
    assert.equal(spawnSync("useradd", ["-M", "-s", "/bin/sh", HOST_USER]).status, 0, "useradd on the host");
    replaceByRename("/etc/resolv.conf");
    assertHeyvmAccounts(await exec(PROBE), "after the host's useradd and a new /etc/resolv.conf");
    // the host's /etc itself is still there, read-only and current, for everything else
    const hostView = await exec(`grep -c '^${HOST_USER}:' /run/host/etc/passwd; cat /etc/hostname >/dev/null && echo readable`);
    assert.deepEqual(hostView.stdout.trim().split("\n"), ["1", "readable"], hostView.stderr);
  } finally {
    spawnSync("userdel", [HOST_USER], { stdio: "ignore" });
  }
  assertHeyvmAccounts(await exec(PROBE), "after the host's userdel");
}

describe("a sandbox's /etc while the host replaces its files, heyvm as root", { skip }, () => {
  let t: TestEnv;
  let id = "";
  before(async () => {
    spawnSync("userdel", [HOST_USER], { stdio: "ignore" }); // a leftover of an earlier, killed run
    t = makeTestEnv("heyvm-etc-");
    const started = await t.run(["wt", "etc/root", "--detach", "--backend", "bubblewrap"]);
    assert.equal(started.code, 0, started.stderr);
    id = idOf(started.stdout);
  });
  after(async () => {
    spawnSync("userdel", [HOST_USER], { stdio: "ignore" });
    await t.cleanup();
  });

  test("useradd, a renamed-in resolv.conf and userdel on the host: id -un, getent and resolv.conf stay heyvm's", async () => {
    await survivesHostChanges((script) => t.run(["exec", id, "--", "sh", "-c", script]));
  });
});

describe("a sandbox's /etc while the host replaces its files, heyvm as a non-root user", { skip }, () => {
  const user = "hvetc1";
  let t: TestEnv;
  let mine = "";
  let id = "";
  let heyvm: (args: string[]) => Promise<RunResult>;
  before(async () => {
    spawnSync("userdel", ["-r", user], { stdio: "ignore" });
    spawnSync("userdel", [HOST_USER], { stdio: "ignore" });
    assert.equal(spawnSync("useradd", ["-M", "-s", "/bin/sh", user]).status, 0, "useradd");
    const uid = Number(spawnSync("id", ["-u", user], { encoding: "utf8" }).stdout.trim());
    t = makeTestEnv("heyvm-etc-user-");
    mine = mkdtempSync(join(tmpdir(), "heyvm-etc-hv-"));
    makeRepo(join(mine, "repo"));
    mkdirSync(join(mine, "heyo"));
    assert.equal(spawnSync("chown", ["-R", `${uid}:${uid}`, mine]).status, 0);
    chmodSync(mine, 0o755);
    const prefix = ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--inh-caps=-all", "--"];
    heyvm = (args) => t.run(args, { prefix, cwd: join(mine, "repo"), env: { HEYO_HOME: join(mine, "heyo"), HOME: mine }, timeoutMs: 120_000 });
    const started = await heyvm(["wt", "etc/user", "--detach", "--backend", "bubblewrap"]);
    assert.equal(started.code, 0, started.stderr);
    id = idOf(started.stdout);
  });
  after(async () => {
    if (id) await heyvm(["stop", id]).catch(() => undefined);
    spawnSync("userdel", [HOST_USER], { stdio: "ignore" });
    spawnSync("userdel", ["-r", user], { stdio: "ignore" });
    if (mine) rmSync(mine, { recursive: true, force: true });
    await t.cleanup();
  });

  test("useradd, a renamed-in resolv.conf and userdel on the host: id -un, getent and resolv.conf stay heyvm's", async () => {
    await survivesHostChanges((script) => heyvm(["exec", id, "--", "sh", "-c", script]));
  });
});
