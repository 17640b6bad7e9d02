// What a sandbox leaves behind is data, never obeyed by the host: what it prints reaches the
// user's terminal only as inert, marked text (heyvm logs, logs -f, the start command's output),
// and the links it leaves in its home are never followed by heyvm on the host (the sandbox's
// ~/.gitconfig -> /etc/shadow, read when the sandbox next started on libvirt). Replayed from
// inside real sandboxes, as root and as a non-root user the test creates.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeStandInExecutable } from "./helpers/stand-in-bin.js";
import { HEYVM, bubblewrapMissing, git, hasCommand, idOf, isAlive, makeRepo, makeTestEnv, ownerPids, waitFor, type TestEnv } from "./helpers/env.js";

const skip = bubblewrapMissing() || (process.getuid?.() !== 0 ? "these tests create a user and check host files: they need root" : false) || (!hasCommand("python3") ? "python3 (used inside the sandbox to reach its console) is not installed" : false);

/**
 * Run inside a bubblewrap sandbox: takes the console (stdout of the sandbox's keeper process,
 * which bwrap's pipe carries to owner.log) with pidfd_getfd, as any process of the sandbox's user
 * may, and writes a terminal attack to it: window title, clipboard write, clear screen, C1 CSI
 * (raw and as UTF-8), a forged owner line behind a line erase, invalid UTF-8, a bidi override.
 */
const CONSOLE_WRITER = String.raw`
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
keeper = next(int(p) for p in os.listdir("/proc") if p.isdigit() and open("/proc/%s/cmdline" % p, "rb").read().startswith(b"sleep\0"))
pidfd = libc.syscall(434, keeper, 0)
fd = libc.syscall(438, pidfd, 1, 0)
assert pidfd >= 0 and fd >= 0, os.strerror(ctypes.get_errno())
os.write(fd, b"\x1b]0;HV-TITLE\x07 \x1b]52;c;SFYtQ0xJUA==\x07 \x1b[2J\x1b[H \x9b31m \xc2\x9b32m HV-CONTROLS\n"
  b"\x1b[2K\x1b[1G2026-01-01T00:00:00.000Z owner: HV-FORGED sandbox stopped\rX\n"
  b"\xff\xfe HV-BAD\n\xe2\x80\xae HV-BIDI\n")
print("written")
`;

/** A forged owner line, as the start command prints it. */
const START_COMMAND = "printf '2026-01-01T00:00:00.000Z owner: HV-START-FORGED\\n\\033]0;HV-START-TITLE\\007\\n'; sleep 600";

/** Raw bytes a terminal would act on or that are not UTF-8 (ESC, BEL, CR, other C0, DEL, C1 raw or encoded, invalid bytes, bidi controls). */
function activeBytes(output: Buffer): string[] {
  const found: string[] = [];
  for (let i = 0; i < output.length; i++) {
    const byte = output[i] ?? 0;
    if ((byte < 0x20 && byte !== 0x0a && byte !== 0x09) || byte === 0x7f) found.push(`0x${byte.toString(16)} at ${i}`);
  }
  const text = output.toString("utf8");
  if (!Buffer.from(text, "utf8").equals(output)) found.push("invalid UTF-8");
  for (const match of text.matchAll(/[\u0080-\u009f\u202a-\u202e\u2066-\u2069\ufffd]/gu)) found.push(`U+${(match[0].codePointAt(0) ?? 0).toString(16)}`);
  return found;
}

/** A non-root host user for the test (hvlogsN), removed by the returned function. */
function createUser(): { uid: number; gid: number; name: string; remove(): Promise<void> } {
  for (let n = 1; n < 50; n++) {
    const name = `hvlogs${n}`;
    if (spawnSync("id", ["-u", name]).status === 0) continue;
    const added = spawnSync("useradd", ["--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name], { encoding: "utf8" });
    if (added.status !== 0) throw new Error(`useradd ${name}: ${added.stderr}`);
    const uid = Number(spawnSync("id", ["-u", name], { encoding: "utf8" }).stdout.trim());
    const gid = Number(spawnSync("id", ["-g", name], { encoding: "utf8" }).stdout.trim());
    const remove = async () => {
      // the user is the test's own: whatever still runs as it (a sandbox ending, logs -f) is the test's
      const left = () => spawnSync("pgrep", ["-u", String(uid)], { encoding: "utf8" }).stdout.split("\n").filter(Boolean).map(Number);
      for (const pid of left()) process.kill(pid, "SIGKILL");
      await waitFor(() => left().length === 0, 30_000, `${name}'s processes to end`).catch(() => undefined);
      const removed = spawnSync("userdel", [name], { encoding: "utf8" });
      if (removed.status !== 0) console.error(`userdel ${name}: ${removed.stderr}`);
    };
    return { uid, gid, name, remove };
  }
  throw new Error("no free hvlogsN user name");
}

interface Runner {
  home: string;
  repo: string;
  /** heyvm with stdout as bytes (extra: more variables). */
  heyvm(args: string[], timeoutMs?: number, extra?: NodeJS.ProcessEnv): { code: number | null; stdout: Buffer; stderr: string };
  spawnArgs(args: string[]): { file: string; args: string[]; env: NodeJS.ProcessEnv };
  cleanup(): Promise<void>;
}

/** heyvm run as root (over a TestEnv) or as a fresh non-root user with a home and repository of its own. */
function runner(as: "root" | "non-root"): Runner {
  if (as === "root") {
    const t: TestEnv = makeTestEnv("heyvm-host-safety-");
    return {
      home: t.home,
      repo: t.repo,
      heyvm: (args, timeoutMs = 180_000, extra = {}) => {
        const run = spawnSync(HEYVM, args, { cwd: t.repo, env: { ...t.env, ...extra }, timeout: timeoutMs });
        return { code: run.status, stdout: run.stdout, stderr: run.stderr.toString("utf8") };
      },
      spawnArgs: (args) => ({ file: HEYVM, args, env: t.env }),
      cleanup: () => t.cleanup(),
    };
  }
  const user = createUser();
  const mine = mkdtempSync(join(tmpdir(), "heyvm-host-safety-user-"));
  chmodSync(mine, 0o755);
  const home = join(mine, "heyo");
  const repo = join(mine, "repo");
  makeRepo(repo);
  spawnSync("chown", ["-R", `${user.uid}:${user.gid}`, mine]);
  const prefix = ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--inh-caps=-all", "--"];
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: mine, HEYO_HOME: home, LANG: "C.UTF-8" };
  return {
    home,
    repo,
    heyvm: (args, timeoutMs = 180_000, extra = {}) => {
      const run = spawnSync(prefix[0] ?? "setpriv", [...prefix.slice(1), HEYVM, ...args], { cwd: repo, env: { ...env, ...extra }, timeout: timeoutMs });
      return { code: run.status, stdout: run.stdout, stderr: run.stderr.toString("utf8") };
    },
    spawnArgs: (args) => ({ file: prefix[0] ?? "setpriv", args: [...prefix.slice(1), HEYVM, ...args], env }),
    async cleanup() {
      const pids = ownerPids(home);
      for (const pid of pids) process.kill(pid, "SIGTERM");
      await waitFor(() => pids.every((pid) => !isAlive(pid)), 30_000, "owners to stop").catch(() => pids.forEach((pid) => isAlive(pid) && process.kill(pid, "SIGKILL")));
      await user.remove();
      rmSync(mine, { recursive: true, force: true });
    },
  };
}

/** Checks heyvm's rendering of the console attack in `logs` output. */
function assertConsoleAttackInert(output: Buffer, what: string): void {
  assert.deepEqual(activeBytes(output), [], `${what}: nothing a terminal acts on`);
  const text = output.toString("utf8");
  const lines = text.split("\n");
  const forged = lines.filter((line) => line.includes("HV-FORGED"));
  assert.equal(forged.length, 1, `${what}: the forged line is there once`);
  assert.match(forged[0] ?? "", /^\d{4}-\d\d-\d\dT[\d:.]+Z console: \\x1b\[2K\\x1b\[1G2026-01-01T00:00:00\.000Z owner: HV-FORGED/, `${what}: shown as the sandbox's console line, its escapes visible`);
  assert.ok(!lines.some((line) => /^2026-01-01T00:00:00\.000Z owner:/.test(line)), `${what}: no line passes for heyvm's own`);
  assert.match(text, /console: \\x1b\]0;HV-TITLE\\x07 \\x1b\]52;c;SFYtQ0xJUA==\\x07 \\x1b\[2J\\x1b\[H \\x9b31m \\u009b32m HV-CONTROLS/, `${what}: title, clipboard, clear and C1 shown escaped`);
  assert.match(text, /console: \\xff\\xfe HV-BAD/, `${what}: invalid UTF-8 shown byte by byte`);
  assert.match(text, /console: \\u202e HV-BIDI/, `${what}: the bidi override shown escaped`);
}

describe("what a sandbox prints reaches the terminal as data", { skip }, () => {
  for (const as of ["root", "non-root"] as const) {
    test(`as ${as}: console escapes and a forged owner line are shown inert and marked by heyvm logs and logs -f`, { timeout: 300_000 }, async () => {
      const r = runner(as);
      let stopFollower = (): unknown => undefined;
      try {
        const started = r.heyvm(["wt", "hostile/console", "--backend", "bubblewrap", "--detach"]);
        assert.equal(started.code, 0, started.stderr);
        const id = idOf(started.stdout.toString("utf8"));
        const worktree = join(r.repo, "..", "hostile-console");
        assert.ok(existsSync(worktree), `worktree at ${worktree}`);
        const { file, args, env } = r.spawnArgs(["logs", "-f", "-n", "0", id]);
        const { spawn } = await import("node:child_process");
        const follower = spawn(file, args, { env, cwd: r.repo, stdio: ["ignore", "pipe", "pipe"] });
        const followed: Buffer[] = [];
        follower.stdout.on("data", (chunk: Buffer) => followed.push(chunk));
        const followerDone = new Promise<number | null>((resolve) => follower.on("close", resolve));
        stopFollower = () => follower.exitCode === null && follower.signalCode === null && follower.kill("SIGKILL");

        const wrote = r.heyvm(["exec", id, "--", "python3", "-c", CONSOLE_WRITER]);
        assert.equal(wrote.code, 0, wrote.stderr);
        assert.equal(wrote.stdout.toString(), "written\n");
        const logPath = join(r.home, "sandboxes", id, "owner.log");
        await waitFor(() => readFileSync(logPath).includes("HV-BIDI"), 10_000, "the console lines in owner.log");
        assert.ok(readFileSync(logPath).includes(Buffer.from("\x1b]0;HV-TITLE\x07")), "owner.log keeps the raw bytes (the rendering is on the way out)");

        const logs = r.heyvm(["logs", id]);
        assert.equal(logs.code, 0, logs.stderr);
        assertConsoleAttackInert(logs.stdout, "heyvm logs");

        await waitFor(() => Buffer.concat(followed).includes("HV-BIDI"), 10_000, "logs -f to show the lines");
        const stopped = r.heyvm(["stop", id]);
        assert.equal(stopped.code, 0, stopped.stderr);
        assert.equal(await followerDone, 0, "logs -f ends when the sandbox stops");
        assertConsoleAttackInert(Buffer.concat(followed), "heyvm logs -f");
        assert.match(Buffer.concat(followed).toString(), /owner: exiting/, "logs -f showed the owner's last line");
      } finally {
        stopFollower();
        await r.cleanup();
      }
    });
  }

  test("as root: a start command's output cannot pass for heyvm's lines", { timeout: 300_000 }, async () => {
    const r = runner("root");
    try {
      const folder = join(r.repo, "..", "standalone");
      spawnSync("mkdir", ["-p", folder]);
      const created = r.heyvm(["create", "--backend", "bubblewrap", "--mount", `${folder}:/workspace`, "--start-command", START_COMMAND]);
      assert.equal(created.code, 0, created.stderr);
      const id = idOf(created.stdout.toString("utf8"));
      const logPath = join(r.home, "sandboxes", id, "owner.log");
      await waitFor(() => readFileSync(logPath).includes("HV-START-TITLE"), 20_000, "the start command's output in owner.log");
      const logs = r.heyvm(["logs", id]);
      const lines = logs.stdout.toString("utf8").split("\n");
      assert.ok(!lines.some((line) => line.startsWith("2026-01-01T00:00:00.000Z owner:")), `no line passes for heyvm's own:\n${lines.join("\n")}`);
      assert.ok(lines.some((line) => /^\S+Z start: 2026-01-01T00:00:00\.000Z owner: HV-START-FORGED$/.test(line)), "the start command's line is marked as its own");
      assert.deepEqual(activeBytes(logs.stdout), [], "nothing a terminal acts on");
      assert.equal(r.heyvm(["stop", id]).code, 0);
    } finally {
      await r.cleanup();
    }
  });
});

/** Why the libvirt route cannot be replayed here, or false. */
function libvirtMissing(): string | false {
  if (skip) return skip;
  for (const tool of ["virsh", "qemu-system-x86_64", "qemu-img", "mmdebstrap", "ssh"]) if (!hasCommand(tool)) return `${tool} is not installed`;
  const virsh = spawnSync("virsh", ["-c", "qemu:///system", "uri"], { encoding: "utf8", timeout: 60_000 });
  if (virsh.status !== 0) return `libvirtd is not reachable (${virsh.stderr.trim()}); run scripts/start-services.sh`;
  return false;
}

function fileFacts(path: string): string {
  const stat = statSync(path);
  return `${stat.uid}:${stat.gid} ${(stat.mode & 0o7777).toString(8)} ${createHash("sha256").update(readFileSync(path)).digest("hex")}`;
}

describe("links a sandbox leaves in its home are never followed by heyvm", { skip: libvirtMissing() }, () => {
  let t: TestEnv;
  before(() => {
    t = makeTestEnv("heyvm-host-safety-links-");
    // a built default image may be lent to the test (it is built otherwise, which takes minutes)
    const lent = process.env.HEYVM_TEST_LIBVIRT_IMAGE;
    if (lent && existsSync(join(lent, "image.json"))) cpSync(lent, join(t.home, "images", "libvirt", "default"), { recursive: true });
  });
  after(async () => {
    const ids = spawnSync("ls", [join(t.home, "sandboxes")], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
    await t.cleanup();
    for (const id of ids) spawnSync("virsh", ["-c", "qemu:///system", "destroy", `heyvm-${id}`]);
  });

  test("as root: ~/.gitconfig -> /etc/shadow left by a bubblewrap run is not read when the sandbox starts on libvirt", { timeout: 1_200_000 }, async () => {
    const shadowBefore = fileFacts("/etc/shadow");
    const branch = "hostile/links";
    const first = await t.run(["wt", branch, "--backend", "bubblewrap", "--detach"]);
    assert.equal(first.code, 0, first.stderr);
    const id = idOf(first.stdout);
    const planted = await t.run(["exec", id, "--", "sh", "-c", "rm -f ~/.gitconfig && ln -s /etc/shadow ~/.gitconfig && mkdir -p ~/.config && ln -s /etc ~/.config/git && ls -l ~/.gitconfig"]);
    assert.equal(planted.code, 0, planted.stderr);
    assert.equal((await t.run(["stop", id])).code, 0);
    // As root a bubblewrap home is a fixed-size image mounted on the home folder while the sandbox
    // runs, so what it planted stays in that image; plant the same links in the folder itself, as
    // a sandbox whose home is the folder (a regular user's) leaves them.
    const homeDir = join(t.home, "sandboxes", id, "home");
    if (existsSync(join(t.home, "sandboxes", id, "home.ext4"))) {
      rmSync(join(homeDir, ".gitconfig"), { force: true });
      symlinkSync("/etc/shadow", join(homeDir, ".gitconfig"));
      mkdirSync(join(homeDir, ".config"), { recursive: true });
      rmSync(join(homeDir, ".config", "git"), { force: true, recursive: true });
      symlinkSync("/etc", join(homeDir, ".config", "git"));
    }

    const vm = await t.run(["wt", branch, "--backend", "libvirt", "--detach"], { timeoutMs: 1_100_000 });
    assert.equal(vm.code, 0, vm.stderr);
    assert.equal(idOf(vm.stdout), id, "the same sandbox, now a VM");
    const inGuest = await t.run(["exec", id, "--", "sh", "-c", "cat ~/.gitconfig 2>&1; echo; git config --global --list 2>&1; true"]);
    assert.equal(inGuest.code, 0, inGuest.stderr);
    assert.doesNotMatch(inGuest.stdout, /^root:/m, "the host's /etc/shadow did not reach the guest");
    const handed = join(t.home, "sandboxes", id, "guest", "gitconfig");
    assert.ok(!readFileSync(handed, "utf8").includes("root:"), "nor the file handed to the guest");
    assert.match(vm.stderr, /the sandbox's ~\/\.gitconfig is ignored: .*symbolic link/, "the start says why it ignored the file");
    assert.equal((await t.run(["stop", id])).code, 0);
    assert.equal(fileFacts("/etc/shadow"), shadowBefore, "the host file's owner, mode and content are untouched");
    git(t.repo, "status");
  });
});

/** Why the firecracker route (its QEMU stand-in) cannot be replayed here, or false. */
function firecrackerMissing(): string | false {
  if (skip) return skip;
  for (const tool of ["qemu-system-x86_64", "mmdebstrap", "ssh", "bwrap", "setpriv", "dumpe2fs"]) if (!hasCommand(tool)) return `${tool} is not installed (scripts/install.sh installs it)`;
  if (!["/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server"].some((path) => existsSync(path))) return "openssh-sftp-server is not installed";
  if (!existsSync(join(HEYVM, "..", "..", "build", "Release", "heyvm-vsock-connect"))) return "build/Release/heyvm-vsock-connect is not built (npm run build)";
  return false;
}

describe("links a sandbox leaves in its home are never followed by heyvm run as a non-root user", { skip: firecrackerMissing() }, () => {
  test("as non-root: ~/.gitconfig -> a private file of the user, left by a bubblewrap run, does not reach the firecracker guest", { timeout: 1_200_000 }, async () => {
    // the default firecracker image is built as root (mmdebstrap), then lent to the user
    let image = process.env.HEYVM_TEST_FIRECRACKER_IMAGE ?? "";
    const builder = makeTestEnv("heyvm-host-safety-fc-image-");
    const r = runner("non-root");
    try {
      if (!image || !existsSync(join(image, "image.json"))) {
        const built = await builder.run(["images", "build", "--backend-type", "firecracker"], { timeoutMs: 1_100_000 });
        assert.equal(built.code, 0, built.stderr);
        image = join(builder.home, "images", "firecracker", "default");
      }
      const mine = join(r.repo, "..");
      const owner = statSync(r.repo);
      const secret = join(mine, "private-key");
      writeFileSync(secret, "HV-PRIVATE-KEY-of-the-user\n", { mode: 0o600 });
      spawnSync("chown", [`${owner.uid}:${owner.gid}`, secret]);
      cpSync(image, join(r.home, "images", "firecracker", "default"), { recursive: true });
      spawnSync("chown", ["-R", `${owner.uid}:${owner.gid}`, r.home]);
      const standIn = writeStandInExecutable(mine);

      const first = r.heyvm(["wt", "hostile/links", "--backend", "bubblewrap", "--detach"]);
      assert.equal(first.code, 0, first.stderr);
      const id = idOf(first.stdout.toString("utf8"));
      const direct = r.heyvm(["exec", id, "--", "cat", secret]);
      assert.notEqual(direct.code, 0, "the sandbox cannot read the user's file itself");
      const planted = r.heyvm(["exec", id, "--", "sh", "-c", `rm -f ~/.gitconfig && ln -s ${secret} ~/.gitconfig`]);
      assert.equal(planted.code, 0, planted.stderr);
      assert.equal(r.heyvm(["stop", id]).code, 0);

      const vm = r.heyvm(["wt", "hostile/links", "--backend", "firecracker", "--detach"], 900_000, { HEYVM_FIRECRACKER: standIn });
      assert.equal(vm.code, 0, vm.stderr);
      const inGuest = r.heyvm(["exec", id, "--", "sh", "-c", "cat ~/.gitconfig; git config --global --list; true"]);
      assert.equal(inGuest.code, 0, inGuest.stderr);
      assert.doesNotMatch(inGuest.stdout.toString("utf8"), /HV-PRIVATE-KEY/, "the user's private file did not reach the guest");
      assert.doesNotMatch(readFileSync(join(r.home, "sandboxes", id, "guest", "gitconfig"), "utf8"), /HV-PRIVATE-KEY/, "nor the config drive's file");
      assert.match(vm.stderr, /the sandbox's ~\/\.gitconfig is ignored: .*symbolic link/);
      assert.equal(r.heyvm(["stop", id]).code, 0);
      assert.equal(readFileSync(secret, "utf8"), "HV-PRIVATE-KEY-of-the-user\n");
    } finally {
      await r.cleanup();
      await builder.cleanup();
    }
  });
});
