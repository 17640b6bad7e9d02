// `heyvm fork` end to end through bin/heyvm, parsing --format json as a client would: a running
// sandbox with uncommitted and untracked changes (and links its code planted) is forked; the fork
// holds the same state on a new branch, both diverge afterwards, the source is untouched. On
// libvirt the fork's disk is a copy-on-write overlay (its allocated blocks ≪ the source's); on
// bubblewrap and the firecracker stand-in the home/root disk is copied (reflink where it can).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HEYVM, bubblewrapMissing, git, hasCommand, idOf, makeTestEnv, type TestEnv } from "./helpers/env.js";
import { makeTestUser, runAs } from "./helpers/test-user.js";
import { writeStandInExecutable } from "./helpers/stand-in-bin.js";
import { TEST_IMAGE_CACHE } from "./helpers/engine.js";

interface ForkJson {
  id: string;
  name: string;
  status: string;
  backend: string;
  branch: string | null;
  worktree: string;
  source_id: string;
  carried_paths: number;
  disk: string[];
}

/** What the source's code does before the fork: a commit, an uncommitted change, untracked files, a link to a host secret, a file in its home. */
const SOURCE_WORK = [
  "set -e",
  "cd /workspace",
  "echo committed-inside > committed.txt && git add committed.txt && git commit -qm inside",
  "echo uncommitted >> README.md",
  "echo untracked > untracked.txt",
  "mkdir -p deep/dir && echo nested > deep/dir/new.txt",
  "ln -s /etc/shadow leak",
  "echo home-note > ~/note.txt",
  "sync",
].join("\n");

/** `git status --porcelain` inside a sandbox's /workspace. */
async function statusInside(t: TestEnv, id: string): Promise<string> {
  const result = await t.run(["exec", id, "--", "git", "-C", "/workspace", "status", "--porcelain", "--untracked-files=all"]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}

async function catInside(t: TestEnv, id: string, path: string): Promise<string> {
  const result = await t.run(["exec", id, "--", "cat", path]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}

/** Allocated bytes of a file (du's figure: blocks actually on disk). */
function allocated(path: string): number {
  return statSync(path).blocks * 512;
}

/**
 * The shared scenario: wt (running), work inside, fork with --format json, then the checks every
 * backend passes. Returns the two ids for the backend's own checks.
 */
async function forkScenario(t: TestEnv, backendArgs: string[], run: TestEnv["run"] = t.run.bind(t)): Promise<{ source: string; fork: ForkJson }> {
  const started = await run(["wt", "feat", "-b", "--detach", ...backendArgs], { timeoutMs: 900_000 });
  assert.equal(started.code, 0, started.stderr);
  const source = idOf(started.stdout);
  const work = await run(["exec", source, "--", "sh", "-c", SOURCE_WORK]);
  assert.equal(work.code, 0, work.stderr);
  const sourceWorktree = join(t.root, "feat");
  const statusBefore = await statusInside(t, source);
  assert.match(statusBefore, /^ M README\.md$/m);
  assert.match(statusBefore, /^\?\? untracked\.txt$/m);
  const readmeBefore = readFileSync(join(sourceWorktree, "README.md"), "utf8");

  const forked = await run(["fork", source, "--branch", "feat-b", "--format", "json"], { timeoutMs: 600_000 });
  assert.equal(forked.code, 0, forked.stderr);
  const fork = JSON.parse(forked.stdout) as ForkJson;
  assert.match(fork.id, /^sb-[0-9a-f]{8}$/);
  assert.notEqual(fork.id, source);
  assert.equal(fork.source_id, source);
  assert.equal(fork.branch, "feat-b");
  assert.equal(fork.status, "running", "a running source's fork is started");
  assert.equal(fork.worktree, join(t.root, "feat-b"));
  assert.ok(fork.carried_paths >= 4, `the changed paths are carried (${fork.carried_paths})`);

  // the fork holds the source's state: the commit made inside, the uncommitted and untracked files, the home
  assert.equal(git(fork.worktree, "rev-parse", "HEAD").trim(), git(t.repo, "rev-parse", "feat").trim(), "the fork's branch starts at the source's commit (made inside, synced)");
  assert.equal(await catInside(t, fork.id, "/workspace/README.md"), readmeBefore);
  assert.equal(await catInside(t, fork.id, "/workspace/untracked.txt"), "untracked\n");
  assert.equal(await catInside(t, fork.id, "/workspace/deep/dir/new.txt"), "nested\n");
  assert.equal(await catInside(t, fork.id, "/workspace/committed.txt"), "committed-inside\n");
  const note = await run(["exec", fork.id, "--", "sh", "-c", "cat ~/note.txt"]);
  assert.equal(note.stdout, "home-note\n", "the home was copied");
  const status = await statusInside(t, fork.id);
  for (const line of statusBefore.split("\n").filter(Boolean)) assert.ok(status.includes(line.slice(3)), `the fork's git sees ${line}`);
  // a link the source planted stays a link (never followed into a copy of the host's file)
  assert.ok(lstatSync(join(fork.worktree, "leak")).isSymbolicLink());
  assert.equal(readlinkSync(join(fork.worktree, "leak")), "/etc/shadow");
  assert.equal(git(fork.worktree, "branch", "--show-current").trim(), "feat-b");

  // both diverge; the source is untouched by the fork
  assert.equal(await statusInside(t, source), statusBefore, "the source's git status is what it was");
  assert.equal(readFileSync(join(sourceWorktree, "README.md"), "utf8"), readmeBefore);
  const feat = git(t.repo, "rev-parse", "feat").trim();
  assert.equal((await run(["exec", fork.id, "--", "sh", "-c", "cd /workspace && echo fork-only > README.md && git commit -qam 'in the fork' && echo fork > ~/note.txt"])).code, 0);
  assert.equal((await run(["exec", source, "--", "sh", "-c", "echo source-only > /workspace/README.md"])).code, 0);
  assert.equal(await catInside(t, source, "/workspace/README.md"), "source-only\n");
  assert.equal(await catInside(t, fork.id, "/workspace/README.md"), "fork-only\n");
  assert.equal((await run(["exec", source, "--", "sh", "-c", "cat ~/note.txt"])).stdout, "home-note\n", "the fork's home is its own");
  const deadline = Date.now() + 30_000;
  while (git(t.repo, "log", "-1", "--format=%s", "feat-b").trim() !== "in the fork" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  assert.equal(git(t.repo, "log", "-1", "--format=%s", "feat-b").trim(), "in the fork", "the fork's commit reaches the host on its own branch");
  assert.equal(git(t.repo, "rev-parse", "feat").trim(), feat, "the source's branch did not move");
  const list = JSON.parse((await run(["list", "--format", "json"])).stdout) as Array<{ id: string; status: string }>;
  assert.deepEqual(list.filter((s) => s.id === source || s.id === fork.id).map((s) => s.status), ["running", "running"]);
  return { source, fork };
}

describe("heyvm fork on bubblewrap", { skip: bubblewrapMissing() }, () => {
  let t: TestEnv;
  before(() => {
    t = makeTestEnv("heyvm-fork-");
  });
  after(async () => {
    await t.cleanup();
  });

  test("a running sandbox's fork holds its uncommitted and untracked changes on a new branch; both diverge; the source is untouched", { timeout: 300_000 }, async () => {
    const { source, fork } = await forkScenario(t, ["--backend", "bubblewrap"]);
    if (process.getuid?.() === 0) {
      // the home image was copied, not shared: sparse, only its used blocks
      const sourceImage = join(t.home, "sandboxes", source, "home.ext4");
      const forkImage = join(t.home, "sandboxes", fork.id, "home.ext4");
      assert.ok(existsSync(forkImage));
      assert.ok(allocated(forkImage) < statSync(forkImage).size / 4, "the copy is sparse");
      assert.ok(allocated(sourceImage) > 0);
    }
  });

  test("a stopped sandbox is forked stopped; --start starts it; errors are one line, with JSON under --format json", { timeout: 300_000 }, async () => {
    const created = await t.run(["wt", "other", "-b", "--detach", "-q", "--backend", "bubblewrap"]);
    assert.equal(created.code, 0, created.stderr);
    const id = created.stdout.trim();
    assert.equal((await t.run(["exec", id, "--", "sh", "-c", "echo stopped-change > /workspace/README.md"])).code, 0);
    assert.equal((await t.run(["stop", id])).code, 0);
    const quiet = await t.run(["fork", id, "-q"]);
    assert.equal(quiet.code, 0, quiet.stderr);
    const forkId = quiet.stdout.trim();
    assert.match(forkId, /^sb-[0-9a-f]{8}$/, "-q prints only the id");
    const got = JSON.parse((await t.run(["get", forkId, "--format", "json"])).stdout) as { status: string; branch: string; worktree: string };
    assert.equal(got.status, "stopped");
    assert.match(got.branch, /^other-fork-[0-9a-f]{4}$/);
    assert.equal(readFileSync(join(got.worktree, "README.md"), "utf8"), "stopped-change\n");
    const started = JSON.parse((await t.run(["fork", id, "--start", "--name", "second", "--format", "json"])).stdout) as ForkJson;
    assert.equal(started.status, "running");
    assert.equal(started.name, "second");
    const taken = await t.run(["fork", id, "--branch", "main", "--format", "json"]);
    assert.equal(taken.code, 4);
    assert.match((JSON.parse(taken.stdout) as { error: { message: string } }).error.message, /branch main exists already/);
    const snapshot = await t.run(["snapshot", id, "--name", "x", "--format", "json"]);
    assert.equal(snapshot.code, 2);
    assert.match((JSON.parse(snapshot.stdout) as { error: { message: string } }).error.message, /bubblewrap sandbox has no disk of its own/);
    const missing = await t.run(["fork", "sb-00000000"]);
    assert.equal(missing.code, 3);
    assert.doesNotMatch(missing.stderr, /\n\s+at /, "no stack trace");
  });
});

describe("heyvm fork on bubblewrap, heyvm run by a user who is not root", { skip: bubblewrapMissing() || (process.getuid?.() !== 0 ? "needs root to make the test user" : false) }, () => {
  test("the fork carries the state and the home as a tree: a link the sandbox planted in its home stays a link", { timeout: 300_000 }, async () => {
    const root = mkdtempSync(join(tmpdir(), "heyvm-fork-user-"));
    chmodSync(root, 0o711);
    const user = makeTestUser("hvforksnap1", root);
    try {
      const repo = join(user.home, "repo");
      const env = { HEYO_HOME: join(user.home, "heyo") };
      const heyvm = (args: string[]) => runAs(user, [HEYVM, ...args], { cwd: repo, env, timeoutMs: 120_000 });
      const setup = await runAs(user, ["sh", "-c", "git init -q -b main repo && cd repo && git config user.email u@x && git config user.name U && echo hi > README.md && git add . && git commit -qm init"], { cwd: user.home });
      assert.equal(setup.code, 0, setup.stderr);
      const started = await heyvm(["wt", "feat", "-b", "--detach", "-q", "--backend", "bubblewrap"]);
      assert.equal(started.code, 0, started.stderr);
      const source = started.stdout.trim();
      const work = await heyvm(["exec", source, "--", "sh", "-c", "echo changed >> /workspace/README.md && echo new > /workspace/new.txt && ln -s /etc/shadow ~/leak && echo note > ~/note.txt"]);
      assert.equal(work.code, 0, work.stderr);
      const forked = await heyvm(["fork", source, "--format", "json"]);
      assert.equal(forked.code, 0, forked.stderr);
      const fork = JSON.parse(forked.stdout) as ForkJson;
      assert.equal(readFileSync(join(fork.worktree, "README.md"), "utf8"), "hi\nchanged\n");
      assert.equal(readFileSync(join(fork.worktree, "new.txt"), "utf8"), "new\n");
      const home = join(user.home, "heyo", "sandboxes", fork.id, "home");
      assert.ok(lstatSync(join(home, "leak")).isSymbolicLink(), "the planted link was copied as a link, not followed");
      assert.equal((await heyvm(["exec", fork.id, "--", "sh", "-c", "cat ~/note.txt"])).stdout, "note\n");
      for (const id of [fork.id, source]) await heyvm(["stop", id]);
    } finally {
      spawnSync("sh", ["-c", `for d in ${join(user.home, "heyo", "sandboxes")}/*; do HEYO_HOME=${join(user.home, "heyo")} ${HEYVM} stop "$(basename "$d")" >/dev/null 2>&1; done`]);
      user.remove();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

function libvirtSkip(): string | false {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return "libvirt fork needs Linux and root";
  for (const tool of ["virsh", "qemu-system-x86_64", "qemu-img", "mmdebstrap", "ssh"]) if (!hasCommand(tool)) return `${tool} is not installed`;
  if (spawnSync("virsh", ["-c", "qemu:///system", "uri"], { encoding: "utf8", timeout: 60_000 }).status !== 0) return "libvirtd is not reachable; run scripts/start-services.sh";
  return false;
}

/** A built default image lent by $name (building one takes minutes), else built here. */
async function provideImage(t: TestEnv, backend: string, lentVariable: string): Promise<void> {
  const lent = process.env[lentVariable];
  if (lent && existsSync(join(lent, "image.json"))) cpSync(lent, join(t.home, "images", backend, "default"), { recursive: true });
  else assert.equal((await t.run(["images", "build", "--backend-type", backend], { env: { HEYVM_IMAGE_CACHE: TEST_IMAGE_CACHE }, timeoutMs: 1_200_000 })).code, 0, "the default image builds");
}

describe("heyvm fork and snapshot on libvirt", { skip: libvirtSkip() }, () => {
  let t: TestEnv;
  let forkId = "";
  before(() => {
    t = makeTestEnv("heyvm-fork-vm-");
  });
  after(async () => {
    await t.cleanup();
  });

  test("the running VM's fork: same state on a new branch, both diverge, the disk a copy-on-write overlay (allocated ≪ the source's)", { timeout: 1_800_000 }, async () => {
    await provideImage(t, "libvirt", "HEYVM_TEST_LIBVIRT_IMAGE");
    // the source writes 64 MiB outside /workspace first: its disk then holds that much
    const started = await t.run(["wt", "feat", "-b", "--detach", "--backend", "libvirt", "--no-network"], { timeoutMs: 900_000 });
    assert.equal(started.code, 0, started.stderr);
    const source = idOf(started.stdout);
    assert.equal((await t.run(["exec", source, "--", "sh", "-c", "dd if=/dev/urandom of=$HOME/blob bs=1M count=64 status=none && sync"], { timeoutMs: 300_000 })).code, 0);
    const { fork } = await forkScenario(t, ["--backend", "libvirt", "--no-network"]);
    const info = (path: string) => JSON.parse(spawnSync("qemu-img", ["info", "-U", "--output=json", path], { encoding: "utf8" }).stdout) as { "actual-size": number; "full-backing-filename"?: string };
    const sourceDisk = join(t.home, "sandboxes", source, "disk.qcow2");
    const forkDisk = join(t.home, "sandboxes", fork.id, "disk.qcow2");
    const layer = info(forkDisk)["full-backing-filename"] ?? "";
    assert.match(layer, /\/disk-layers\/sb-[0-9a-f]{8}-[0-9a-f]{8}\.qcow2$/, "the fork's disk is an overlay on a shared layer");
    assert.equal(info(sourceDisk)["full-backing-filename"], layer, "the running source moved onto its own overlay on the same layer");
    assert.ok(info(layer)["actual-size"] > 64 * 1024 * 1024, "the layer holds what the source wrote");
    // the fork has booted and written a little since: still a small fraction of the layer
    assert.ok(allocated(forkDisk) * 4 < allocated(layer), `fork disk ${allocated(forkDisk)} B allocated vs the source's ${allocated(layer)} B`);
    const blob = await t.run(["exec", fork.id, "--", "sh", "-c", "wc -c < $HOME/blob"]);
    assert.equal(blob.stdout.trim(), String(64 * 1024 * 1024), "the fork's disk has the source's data");
    // both restart from their own chains
    assert.equal((await t.run(["stop", fork.id])).code, 0);
    const again = await t.run(["start", fork.id, "--format", "json"], { timeoutMs: 600_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.equal((await t.run(["exec", fork.id, "--", "sh", "-c", "cat ~/note.txt"])).stdout, "fork\n", "the fork's own writes survive its restart");
    forkId = fork.id;
  });

  test("snapshot: the fork's disk (over its layer) becomes an image that images list shows and wt --image starts from", { timeout: 1_200_000 }, async () => {
    assert.ok(forkId, "the fork test ran first");
    const made = await t.run(["snapshot", forkId, "--name", "with-blob", "--format", "json"], { timeoutMs: 900_000 });
    assert.equal(made.code, 0, made.stderr);
    const image = JSON.parse(made.stdout) as { name: string; backend: string; path: string; sandbox_id: string; sandbox_status: string };
    assert.deepEqual([image.name, image.backend, image.sandbox_id, image.sandbox_status], ["with-blob", "libvirt", forkId, "running"], "restarted after the snapshot");
    const info = JSON.parse(spawnSync("qemu-img", ["info", "--output=json", join(image.path, "rootfs.qcow2")], { encoding: "utf8" }).stdout) as { "backing-filename"?: string };
    assert.equal(info["backing-filename"], undefined, "the image's disk stands alone (the chain flattened)");
    const listed = JSON.parse((await t.run(["images", "list", "--format", "json"])).stdout) as Array<{ name: string; backend: string; source: string; valid: boolean }>;
    assert.ok(listed.some((row) => row.name === "with-blob" && row.backend === "libvirt" && row.source === "snapshot" && row.valid));
    const taken = await t.run(["snapshot", forkId, "--name", "with-blob", "--no-restart", "--format", "json"]);
    assert.equal(taken.code, 4, "the name is taken");
    const fromImage = await t.run(["wt", "from-image", "-b", "--detach", "-q", "--backend", "libvirt", "--no-network", "--image", "with-blob"], { timeoutMs: 900_000 });
    assert.equal(fromImage.code, 0, fromImage.stderr);
    const id = fromImage.stdout.trim();
    assert.equal((await t.run(["exec", id, "--", "sh", "-c", "wc -c < $HOME/blob; cat ~/note.txt"])).stdout, `${64 * 1024 * 1024}\nfork\n`, "the new sandbox starts from the snapshot's disk");
    assert.equal((await t.run(["stop", id])).code, 0);
  });
});

function firecrackerSkip(): string | false {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return "firecracker fork needs Linux and root";
  for (const tool of ["qemu-system-x86_64", "mmdebstrap", "ssh", "dumpe2fs"]) if (!hasCommand(tool)) return `${tool} is not installed`;
  return false;
}

describe("heyvm fork on firecracker (QEMU stand-in)", { skip: firecrackerSkip() }, () => {
  let t: TestEnv;
  before(() => {
    t = makeTestEnv("heyvm-fork-fc-");
    t.env.HEYVM_FIRECRACKER = writeStandInExecutable(t.root);
  });
  after(async () => {
    await t.cleanup();
  });

  test("a running firecracker sandbox is refused (stop it first); a stopped one is forked with its changes and its root disk", { timeout: 1_800_000 }, async () => {
    await provideImage(t, "firecracker", "HEYVM_TEST_FIRECRACKER_IMAGE");
    const started = await t.run(["wt", "feat", "-b", "--detach", "--backend", "firecracker", "--no-network"], { timeoutMs: 900_000 });
    assert.equal(started.code, 0, started.stderr);
    const source = idOf(started.stdout);
    assert.equal((await t.run(["exec", source, "--", "sh", "-c", "echo uncommitted >> /workspace/README.md && echo u > /workspace/untracked.txt && echo outside-workspace > $HOME/fork-mark && sync"])).code, 0);
    const refused = await t.run(["fork", source, "--format", "json"]);
    assert.equal(refused.code, 4);
    assert.match((JSON.parse(refused.stdout) as { error: { message: string; hint: string } }).error.hint, /stop it first/);
    assert.equal((await t.run(["stop", source])).code, 0);
    const forked = await t.run(["fork", source, "--branch", "feat-b", "--start", "--format", "json"], { timeoutMs: 900_000 });
    assert.equal(forked.code, 0, forked.stderr);
    const fork = JSON.parse(forked.stdout) as ForkJson;
    assert.equal(fork.status, "running");
    assert.equal(readFileSync(join(fork.worktree, "README.md"), "utf8"), "hello\nuncommitted\n");
    assert.equal(await catInside(t, fork.id, "/workspace/untracked.txt"), "u\n");
    const mark = await t.run(["exec", fork.id, "--", "sh", "-c", "cat $HOME/fork-mark"]);
    assert.equal(mark.stdout, "outside-workspace\n", "the root disk came with the fork");
    assert.match(fork.disk.join(" "), /root disk copied/);
    assert.equal(git(join(t.root, "feat"), "status", "--porcelain"), " M README.md\n?? untracked.txt\n", "the source is untouched");
  });
});
