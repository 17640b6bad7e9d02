// Nested repositories (issue 18 item 2), end to end on bubblewrap, with heyvm run as root and as
// a non-root user the test creates: from inside a real sandbox each route by which a repository
// could appear in the worktree is tried (git init, mkdir .git, a host-owned folder renamed into
// place, a bare repository's shape, links, a rename raced from a second thread, the worktree's
// .git written after the host replaced it), each with a config whose core.fsmonitor and hooks
// make a marker. Then the host user's own git runs where an IDE would (`git status` in the
// sub-folder and at the top): the marker must not appear, and history stays intact. Legit work
// (file creation, commits, .github, files named head) still passes; the guard fails closed.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bubblewrapMissing, HEYVM, idOf, makeTestEnv, waitFor, type RunResult, type TestEnv } from "./helpers/env.js";
import { chownTree, makeTestUser, type HostUser, type TestUser } from "./helpers/test-user.js";

const skip = bubblewrapMissing() || (process.getuid?.() !== 0 ? "creating the non-root test user needs root" : false);
const USER_NAME = "hvnameguard1";

function asUser(user: HostUser, cwd: string, command: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; stdout: string; stderr: string } {
  const [file, ...rest] = [...user.prefix, ...command];
  const result = spawnSync(file ?? "sh", rest, { cwd, encoding: "utf8", env: { ...process.env, ...env }, timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** git on the host, as the host user, with no global config (HOME is the test's folder). */
function hostGit(user: HostUser, home: string, cwd: string, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  return asUser(user, cwd, ["git", ...args], { HOME: home, GIT_CONFIG_NOSYSTEM: "1" });
}

// Variables every route has: W = the route's folder inside, HW = the same on the host, M = the marker.
// evil DIR: a config in DIR that runs the marker as fsmonitor and from every hook.
const PAYLOAD = `
P=/workspace/.payload.sh
printf '#!/bin/sh\\ntouch "%s"\\n' "$M" > $P; chmod +x $P
mkdir -p /workspace/.hooks
for h in pre-commit post-commit post-checkout reference-transaction post-index-change; do cp $P /workspace/.hooks/$h; done
evil() { printf '[core]\\n\\trepositoryformatversion = 0\\n\\tbare = false\\n\\tfsmonitor = %s\\n\\thooksPath = %s\\n' "$HP" "$HH" > "$1/config"; }
shape() { mkdir -p "$1/objects" "$1/refs/heads"; echo 'ref: refs/heads/main' > "$1/HEAD"; evil "$1"; }
mkdir -p "$W"; cd "$W"
`;

interface Route {
  name: string;
  /** On the host, before the attack (as the host user): HW exists. */
  setup?: string;
  /** Inside, as bash. */
  inside: string;
  /** Sub-folders (of HW) where the host's git runs afterwards. */
  probes: string[];
}

const ROUTES: Route[] = [
  { name: "git init in a sub-folder", inside: `git init -q sub; evil sub/.git`, probes: ["sub"] },
  { name: "mkdir sub/.git and a repository in it", inside: `mkdir -p sub; mkdir sub/.git; shape sub/.git`, probes: ["sub"] },
  { name: ".GIT in another case", inside: `mkdir -p sub; mkdir sub/.GIT; shape sub/.GIT`, probes: ["sub"] },
  {
    name: "host-owned folders renamed into place (passes git's ownership check as root)",
    setup: `mkdir -p hostsub hostgit`,
    inside: `mv hostgit hostsub/.git; shape hostsub/.git`,
    probes: ["hostsub"],
  },
  { name: "a bare repository's shape (HEAD, objects, refs, config)", inside: `mkdir -p sub; shape sub`, probes: ["sub"] },
  { name: "git init --bare", inside: `git init -q --bare sub; evil sub`, probes: ["sub"] },
  { name: "a symbolic link named .git to a repository made elsewhere in the worktree", inside: `mkdir -p store sub; shape store; ln -s "$HW/store" sub/.git`, probes: ["sub"] },
  { name: "a .git file pointing elsewhere", inside: `git init -q ~/elsewhere2; evil ~/elsewhere2/.git; mkdir -p sub; echo "gitdir: $HOME/elsewhere2/.git" > sub/.git`, probes: ["sub"] },
  { name: "a .git made through a link to its parent", inside: `mkdir -p real; ln -s real sub; mkdir sub/.git; shape sub/.git; mkdir -p real2; ln -s real2/.git dangling; mkdir real2/x; shape dangling 2>/dev/null; echo x > dangling`, probes: ["real", "real2"] },
  { name: "a hard link named .git", inside: `mkdir -p sub; echo "gitdir: $HOME/x" > f; ln f sub/.git`, probes: ["sub"] },
  {
    name: "a nested repository the host made: its config and hooks written (also through /proc/self/fd)",
    setup: `git init -q hostrepo && git -C hostrepo -c user.name=h -c user.email=h@h commit -q --allow-empty -m one`,
    inside: `evil hostrepo/.git; mkdir -p hostrepo/.git/hooks; cp $P hostrepo/.git/hooks/post-checkout
exec 3<hostrepo/.git/config; evil /proc/self/fd/3/.. 2>/dev/null; printf '[core]\\n\\tfsmonitor = %s\\n' "$HP" > /proc/self/fd/3; exec 3<&-`,
    probes: ["hostrepo"],
  },
  {
    name: "a rename raced from a second thread (the path changes after the check)",
    inside: `mkdir -p sub; cat > race.py <<'PY'
import ctypes, os, threading, time
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(64)
names = [b"sub/aaaa", b"sub/.git"]
stop = False
def flip():
    i = 0
    while not stop:
        ctypes.memmove(buf, names[i % 2] + b"\\0", len(names[i % 2]) + 1); i += 1
t = threading.Thread(target=flip); t.start()
end = time.time() + 2
made = 0
while time.time() < end:
    if libc.mkdir(buf, 0o755) == 0: made += 1
    libc.rmdir(b"sub/aaaa")
stop = True; t.join()
print("made", made)
PY
python3 race.py; [ -d sub/.git ] && shape sub/.git; true`,
    probes: ["sub"],
  },
];

async function heyvm(t: TestEnv, user: HostUser, args: string[]): Promise<RunResult> {
  return t.run(args, { prefix: user.prefix, env: { HOME: t.root } });
}

function nestedRepoTests(label: string, makeUser: () => HostUser, cleanupUser: () => void): void {
  describe(`nested repositories on bubblewrap, heyvm as ${label}`, { skip }, () => {
    let user: HostUser;
    let t: TestEnv;
    let id = "";
    let worktree = "";
    /** One marker per route, so each route's result stands alone. */
    const marker = (route = "any") => join(t.root, `marker-${route}`);
    const inside = (script: string) => heyvm(t, user, ["exec", id, "--", "bash", "-c", script]);

    before(async () => {
      user = makeUser();
      t = makeTestEnv("heyvm-nest-");
      chownTree(t.root, user);
      const started = await heyvm(t, user, ["wt", "feat", "-b", "--detach", "--backend", "bubblewrap", "--no-network"]);
      assert.equal(started.code, 0, started.stderr);
      id = idOf(started.stdout);
      worktree = join(t.root, "feat");
    });
    after(async () => {
      try {
        await t?.cleanup();
      } finally {
        cleanupUser();
      }
    });

    ROUTES.forEach((route, index) => {
      test(`route: ${route.name}`, async () => {
        const folder = `r${index}`;
        const hostFolder = join(worktree, folder);
        mkdirSync(hostFolder);
        chownSync(hostFolder, user.uid, user.gid);
        if (route.setup) assert.equal(asUser(user, hostFolder, ["sh", "-c", route.setup], { HOME: t.root }).code, 0);
        const vars = `W=/workspace/${folder} HW=${hostFolder} M=${marker(folder)} HP=${join(worktree, ".payload.sh")} HH=${join(worktree, ".hooks")}`;
        const attack = await inside(`${vars}\n${PAYLOAD}\n${route.inside}\ntrue`);
        assert.equal(attack.code, 0, attack.stderr);
        // the host user's git where an IDE runs it: in each sub-folder, and at the top
        for (const probe of route.probes) hostGit(user, t.root, join(hostFolder, probe), "status");
        hostGit(user, t.root, worktree, "status");
        hostGit(user, t.root, t.repo, "status");
        assert.ok(!existsSync(marker(folder)), `the sandbox's planted config ran on the host (${route.name})`);
        for (const probe of route.probes) {
          const top = hostGit(user, t.root, join(hostFolder, probe), "rev-parse", "--show-toplevel").stdout.trim();
          if (route.setup?.includes("hostrepo")) continue; // the host's own nested repository stays one
          assert.equal(top, worktree, `git on the host finds no repository in ${probe} but the worktree`);
        }
        const fsck = hostGit(user, t.root, t.repo, "fsck", "--no-dangling");
        assert.equal(fsck.code, 0, `git fsck: ${fsck.stderr}`);
      });
    });

    test("a nested repository the host made: its .git is not renamed, removed, linked from, chmod'ed, truncated or given xattrs", async () => {
      const hostFolder = join(worktree, "rkeep");
      mkdirSync(hostFolder);
      chownSync(hostFolder, user.uid, user.gid);
      const made = asUser(user, hostFolder, ["sh", "-c", "git init -q hostrepo && git -C hostrepo -c user.name=h -c user.email=h@h commit -q --allow-empty -m one"], { HOME: t.root });
      assert.equal(made.code, 0, made.stderr);
      const gitDir = join(hostFolder, "hostrepo", ".git");
      const before = { head: readFileSync(join(gitDir, "HEAD"), "utf8"), config: readFileSync(join(gitDir, "config"), "utf8"), mode: lstatSync(join(gitDir, "config")).mode };
      const attack = await inside(`cd /workspace/rkeep; G=hostrepo/.git
ln $G/config stolen && echo did-link; mv $G hostrepo/moved && echo did-rename; mv $G/config hostrepo/c && echo did-move-out
rm -f $G/HEAD && echo did-unlink; chmod 777 $G/config && echo did-chmod; truncate -s 0 $G/HEAD && echo did-truncate
python3 -c 'import os; os.setxattr("hostrepo/.git/config", "user.heyvm", b"1")' 2>/dev/null && echo did-xattr
rm -rf $G 2>/dev/null && echo did-rmrf
exec 3<$G/config; echo x > /proc/self/fd/3 && echo did-fd-write; exec 4<$G; echo x > /proc/self/fd/4/HEAD && echo did-fd-dir-write; true`);
      assert.equal(attack.code, 0, attack.stderr);
      assert.doesNotMatch(attack.stdout, /did-/, "a change to the nested repository's .git went through");
      assert.equal(readFileSync(join(gitDir, "HEAD"), "utf8"), before.head);
      assert.equal(readFileSync(join(gitDir, "config"), "utf8"), before.config);
      assert.equal(lstatSync(join(gitDir, "config")).mode, before.mode);
      assert.equal(hostGit(user, t.root, join(hostFolder, "hostrepo"), "log", "--oneline").code, 0);
    });

    test("what the sandbox holds: /dev/tty under heyvm sh (a pty) is its terminal, and none without one", async () => {
      const viaPty = spawnSync("script", ["-qec", [...user.prefix, HEYVM, "sh", id].map((word) => `'${word}'`).join(" "), "/dev/null"], {
        cwd: t.repo,
        encoding: "utf8",
        env: { ...t.env, HOME: t.root },
        input: "echo viatty > /dev/tty; echo rc=$?; exit\n",
        timeout: 60_000,
      });
      assert.match(viaPty.stdout, /viatty\r?\n.*rc=0/s, `/dev/tty through heyvm sh: ${viaPty.stdout}`);
      assert.doesNotMatch(viaPty.stdout, /No such device/);
      // no controlling terminal (exec has none): the kernel's own answer
      const noTty = await inside("echo x > /dev/tty");
      assert.notEqual(noTty.code, 0);
      assert.match(noTty.stderr, /No such device or address/);
    });

    test("what the sandbox holds: /dev/stderr, /dev/stdout and /dev/fd/N to a socket, a pipe and a file", async () => {
      const script = `r=; echo x > /dev/stderr; r="$r $?"; echo y > /dev/stdout; r="$r $?"; echo z | tee /dev/stderr; r="$r $?"; echo w > /dev/fd/2; r="$r $?"; echo "$r" > /workspace/held-$1`;
      // this test's own stdio: node's are socket pairs (re-opened, the kernel says ENXIO)
      const viaSocket = await inside(`set -- socket\n${script}`);
      assert.equal(viaSocket.code, 0, viaSocket.stderr);
      assert.equal(readFileSync(join(worktree, "held-socket"), "utf8"), " 0 0 0 0\n", `to a socket: ${viaSocket.stderr}`);
      assert.match(viaSocket.stderr, /x\n.*z\n.*w\n/s);
      assert.match(viaSocket.stdout, /y\n.*z\n/s);
      const heyvmExec = (redirect: string) => asUser(user, t.repo, ["sh", "-c", `'${HEYVM}' exec ${id} -- sh -c '${script}' sh ${redirect}`], { ...t.env, HOME: t.root });
      // a shell's pipe: exec relays it through a pipe of its own (root heyvm's is 0600, not the sandbox user's)
      const viaPipe = heyvmExec("pipe 2>&1 | cat");
      assert.equal(viaPipe.code, 0, viaPipe.stdout);
      assert.equal(readFileSync(join(worktree, "held-pipe"), "utf8"), " 0 0 0 0\n", `to a pipe: ${viaPipe.stdout}`);
      assert.match(viaPipe.stdout, /x\n.*y\n.*z\n.*z\n.*w\n/s);
      // a file the sandbox's user may write (a regular file is re-opened, its location checked)
      const out = join(t.root, "held-out.txt");
      writeFileSync(out, "");
      chmodSync(out, 0o666);
      const toFile = heyvmExec(`file >>'${out}' 2>&1`);
      assert.equal(toFile.code, 0, readFileSync(out, "utf8"));
      assert.equal(readFileSync(join(worktree, "held-file"), "utf8"), " 0 0 0 0\n", `to a file: ${readFileSync(out, "utf8")}`);
    });

    test("what the sandbox holds, and nothing else: another exec's output is not reached through /proc/<pid>/fd", async () => {
      const victim = inside("echo $$ > /workspace/held-victim; exec sleep 6");
      await waitFor(() => existsSync(join(worktree, "held-victim")), 10_000, "the first exec's shell");
      const pid = readFileSync(join(worktree, "held-victim"), "utf8").trim();
      const attack = await inside(`for fd in 1 2; do echo INJECTED > /proc/${pid}/fd/$fd && echo did-inject; done; echo INJECTED | tee /proc/${pid}/fd/1 >/dev/null && echo did-tee; true`);
      assert.equal(attack.code, 0, attack.stderr);
      assert.doesNotMatch(attack.stdout, /did-/, "a write reached another exec's output");
      const { stdout, stderr } = await victim;
      assert.doesNotMatch(stdout + stderr, /INJECTED/);
    });

    test("legit work still passes: file creation, a commit, .github, files named head, links, renames", async () => {
      const result = await inside(`set -e
cd /workspace; mkdir -p legit/node_modules/a/b; cd legit
for i in $(seq 1 200); do echo "{}" > node_modules/a/b/f$i.json; done
echo '{"name":"x"}' > package.json; mkdir -p x/.github/workflows; echo on > x/.github/workflows/ci.yml
echo h > head; echo h > Head; mkdir heads; echo i > .gitignore; echo a > .gitattributes
ln -s package.json link.json; ln package.json hard.json; mv hard.json moved.json; chmod +x moved.json; rm moved.json
echo v > /tmp/t; mkdir -p /tmp/a/.git ~/b/.git; git init -q ~/own-repo
cd /workspace; git add legit; git commit -qm legit; git log --oneline -1; git status --porcelain | wc -l`);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /legit/);
      assert.equal(readFileSync(join(worktree, "legit", "x", ".github", "workflows", "ci.yml"), "utf8"), "on\n");
      await waitFor(() => hostGit(user, t.root, t.repo, "log", "--oneline", "-1", "feat").stdout.includes("legit"), 10_000, "the commit on the host's branch");
    });

    test("the guard is out of the sandbox's sight, nested user namespaces are refused, and it fails closed", async () => {
      const seen = await inside(`cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' | grep -c 'heyvm-nameguar[d]'; unshare -r true && echo userns-made || echo userns-refused`);
      assert.match(seen.stdout, /^0\n/, "no nameguard process in the sandbox's pid namespace");
      assert.match(seen.stdout, /userns-refused/);
      // an exec's supervisor ended from the host: its guarded calls fail, unguarded ones go on
      const running = inside("sleep 2; head -c 6 /workspace/.git && echo -ok; mkdir /workspace/after-kill 2>&1; echo rc=$?");
      const supervisor = () =>
        readdirSync("/proc")
          .filter((entry) => /^\d+$/.test(entry))
          .find((pid) => {
            try {
              const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
              return cmd[0]?.endsWith("heyvm-nameguard") === true && cmd[1] === "run" && cmd.includes(worktreeInit(t, id));
            } catch {
              return false;
            }
          });
      let found: string | undefined;
      await waitFor(() => (found = supervisor()) !== undefined, 10_000, "the exec's supervisor");
      process.kill(Number(found), "SIGKILL");
      const { stdout: out } = await running;
      assert.match(out, /gitdir-ok/, "reads still work");
      assert.match(out, /Function not implemented/);
      assert.ok(!existsSync(join(worktree, "after-kill")));
    });

    test("route: the worktree's .git written after the host replaced it (the bind over it goes)", async () => {
      // as an editor saves: a new file renamed over the old one, by the host user
      assert.equal(asUser(user, worktree, ["sh", "-c", "cp .git .git.new && mv .git.new .git"]).code, 0);
      const vars = `W=/workspace/rgit M=${marker("rgit")} HP=${join(worktree, ".payload.sh")} HH=${join(worktree, ".hooks")}`;
      const attack = await inside(`${vars}\n${PAYLOAD}\ngit init -q --bare ~/evil; evil ~/evil; printf 'gitdir: %s\\n' ~/evil > /workspace/.git && echo written; true`);
      assert.doesNotMatch(attack.stdout, /written/, "the worktree's .git could be written");
      hostGit(user, t.root, worktree, "status");
      assert.ok(!existsSync(marker("rgit")), "the sandbox's planted config ran on the host");
      assert.equal(readFileSync(join(worktree, ".git"), "utf8"), `gitdir: ${join(t.repo, ".git", "worktrees", "feat")}\n`);
      assert.equal(hostGit(user, t.root, t.repo, "fsck", "--no-dangling").code, 0);
    });
  });
}

/** The sandbox's init pid as exec's nsenter names it (`--target <pid>`): tells this sandbox's supervisors from others'. */
function worktreeInit(t: TestEnv, id: string): string {
  const owner = JSON.parse(readFileSync(join(t.home, "sandboxes", id, "owner.json"), "utf8")) as { machine?: { initPid?: number } };
  return String(owner.machine?.initPid);
}

nestedRepoTests("root", () => ({ uid: 0, gid: 0, prefix: [] }), () => undefined);

let testUser: TestUser | undefined;
const userParent = join(tmpdir(), `heyvm-nest-user-${process.pid}`);
nestedRepoTests(
  `a non-root user (${USER_NAME})`,
  () => {
    testUser = makeTestUser(USER_NAME, userParent);
    return { uid: testUser.uid, gid: testUser.gid, prefix: ["setpriv", `--reuid=${testUser.uid}`, `--regid=${testUser.gid}`, "--clear-groups", "--"] };
  },
  () => {
    testUser?.remove();
    rmSync(userParent, { recursive: true, force: true });
  },
);
