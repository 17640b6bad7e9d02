// The git boundary, end to end on bubblewrap, with heyvm run as root and as a non-root user the
// test creates: each route by which a sandbox took over the host's git (issue 18) is replayed
// from inside a real sandbox, then the host's own git (status, commit) and heyvm's (wt, rm
// --worktree) run, and nothing the sandbox planted may have run; history stays as it was. Then
// the legitimate flow: commits, amend and rebase inside reach the host's branch; a host commit
// reaches the sandbox. On libvirt (heyvm as root; the guest as heyo and as its root, through a
// setuid shell planted in the test's copy of the image): the same writes from inside a guest,
// where read-only must hold on the host's side; then the legitimate flow both ways.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GUEST_ROOT_SHELL, plantGuestRootShell } from "./helpers/guest-root-shell.js";
import { bubblewrapMissing, git, hasCommand, idOf, makeRepo, makeTestEnv, waitFor, type RunResult, type TestEnv } from "./helpers/env.js";
import { chownTree, type HostUser } from "./helpers/test-user.js";

const skip = bubblewrapMissing() || (process.getuid?.() !== 0 ? "creating the non-root test user needs root" : false);
const USER_NAME = "hvgitstore1";

/** git on the host, as the host user. */
function hostGit(user: HostUser, cwd: string, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const [file, ...rest] = [...user.prefix, "git", ...args];
  const result = spawnSync(file ?? "git", rest, { cwd, encoding: "utf8", env: { ...process.env, HOME: cwd } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** One route of issue 18: what the host does first, what the sandbox runs (bash, variables below). */
interface Route {
  name: string;
  /** On the host before the sandbox starts. */
  setup?: (repo: string, user: HostUser) => void;
  /** On the host while the sandbox runs, before the attack. */
  meanwhile?: (repo: string, user: HostUser) => void;
  /** The host's answer takes a moment: wait until the sandbox has been stopped before the host's checks. */
  stopsSandbox?: boolean;
  /** Run inside: C = the host's common git folder, N = the worktree's name there, WT = the worktree on the host, M = the marker. */
  inside: string;
}

// What every route plants: a script that makes the marker, as fsmonitor and as every hook.
const PAYLOAD = `
P=/workspace/.payload.sh
printf '#!/bin/sh\\ntouch "%s"\\n' "$M" > $P; chmod +x $P
mkdir -p /workspace/.hooks
for h in pre-commit post-commit post-checkout reference-transaction post-index-change; do cp $P /workspace/.hooks/$h; done
evil() { git config --file "$1" core.fsmonitor "$WT/.payload.sh"; git config --file "$1" core.hooksPath "$WT/.hooks"; }
fake() { git init -q --bare /workspace/.evil; git config --file /workspace/.evil/config core.bare false; evil /workspace/.evil/config; }
`;

const ROUTES: Route[] = [
  { name: "commondir in the main git folder", inside: `fake; echo "$WT/.evil" > "$C/commondir"` },
  { name: "commondir in the worktree's admin folder", inside: `fake; echo "$WT/.evil" > "$C/worktrees/$N/commondir"` },
  { name: "the worktree's .git file rewritten", inside: `fake; cp /workspace/.git /workspace/.git.orig 2>/dev/null; printf 'gitdir: %s\\n' "$WT/.evil" > /workspace/.git` },
  {
    name: "a submodule's config under .git/modules",
    setup: (repo) => {
      makeRepo(`${repo}-sub`);
      git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", `${repo}-sub`, "sub");
      git(repo, "commit", "-qm", "sub");
    },
    inside: `evil "$C/modules/sub/config"`,
  },
  {
    name: "a hooks folder the repository did not have",
    setup: (repo) => rmSync(join(repo, ".git", "hooks"), { recursive: true, force: true }),
    inside: `mkdir -p "$C/hooks" && for h in pre-commit post-commit post-checkout reference-transaction; do cp $P "$C/hooks/$h"; done`,
  },
  {
    name: "the config written after the host replaced it (git config renames a new file over it)",
    meanwhile: (repo, user) => assert.equal(hostGit(user, repo, "config", "heyvm.test", "1").code, 0),
    inside: `evil "$C/config"`,
  },
  {
    name: "the worktree's .git file written after the host replaced it (the bind over it goes)",
    meanwhile: (repo, user) => {
      // as an editor saves: a new file renamed over the old one, by the host user
      const [file, ...args] = [...user.prefix, "sh", "-c", "cp .git .git.new && mv .git.new .git"];
      assert.equal(spawnSync(file ?? "sh", args, { cwd: join(repo, "..", "feat") }).status, 0);
    },
    stopsSandbox: true,
    inside: `fake; sleep 0.3; printf 'gitdir: %s\n' "$WT/.evil" > /workspace/.git`,
  },
  {
    name: "main moved to a forged commit and every object deleted",
    inside: `T=$(git commit-tree -m forged $(git mktree </dev/null))
git update-ref refs/heads/main $T; git --git-dir="$C" update-ref refs/heads/main $T
find "$C/objects" /heyvm/git/host-objects -type f -delete`,
  },
];

async function heyvm(t: TestEnv, user: HostUser, args: string[], cwd?: string): Promise<RunResult> {
  return t.run(args, { prefix: user.prefix, cwd, env: { HOME: t.root } });
}

function boundaryTests(label: string, makeUser: () => HostUser, cleanupUser: () => void): void {
  describe(`git boundary on bubblewrap, heyvm as ${label}`, { skip }, () => {
    let user: HostUser;
    before(() => {
      user = makeUser();
    });
    after(() => cleanupUser());

    for (const route of ROUTES) {
      test(`route: ${route.name}`, async () => {
        const t = makeTestEnv("heyvm-gitb-");
        try {
          route.setup?.(t.repo, user);
          chownTree(t.root, user);
          const marker = join(t.root, "marker");
          const mainBefore = hostGit(user, t.repo, "rev-parse", "main").stdout.trim();
          const started = await heyvm(t, user, ["wt", "feat", "-b", "--detach", "--backend", "bubblewrap", "--no-network"]);
          assert.equal(started.code, 0, started.stderr);
          const id = idOf(started.stdout);
          const worktree = join(t.root, "feat");
          route.meanwhile?.(t.repo, user);
          const attack = await heyvm(t, user, ["exec", id, "--", "bash", "-c", `C=${join(t.repo, ".git")} N=feat WT=${worktree} M=${marker}\n${PAYLOAD}\n${route.inside}\ntrue`]);
          // where heyvm answers the route by stopping the sandbox, that stop may end the attack's own
          // exec before it finishes (143, SIGTERM): what counts is the host side, checked below
          assert.ok(attack.code === 0 || (route.stopsSandbox === true && attack.code === 143), `exit ${attack.code}: ${attack.stderr}`);
          let stoppedByHeyvm = false;
          let gitFileAfter = "";
          if (route.stopsSandbox) {
            stoppedByHeyvm = await waitFor(() => !existsSync(join(t.home, "sandboxes", id, "owner.json")), 15_000, "the sandbox stopped by heyvm").then(() => true, () => false);
            gitFileAfter = readFileSync(join(worktree, ".git"), "utf8");
          }
          // the host user's git, as an IDE runs it, then heyvm's own
          hostGit(user, worktree, "status");
          hostGit(user, t.repo, "status");
          hostGit(user, t.repo, "commit", "--allow-empty", "-qm", "on the host");
          const next = await heyvm(t, user, ["wt", "next", "-b", "--detach", "--backend", "bubblewrap", "--no-network"]);
          await heyvm(t, user, ["stop", id]);
          await heyvm(t, user, ["rm", "--worktree", "--force", "next"]);
          await heyvm(t, user, ["rm", "--worktree", "--force", id]);
          assert.ok(!existsSync(marker), `the sandbox's planted code ran on the host (${route.name})`);
          if (route.stopsSandbox) {
            assert.ok(stoppedByHeyvm, "heyvm stopped the sandbox");
            assert.equal(gitFileAfter, `gitdir: ${join(t.repo, ".git", "worktrees", "feat")}\n`, "the worktree's .git put back");
          }
          assert.equal(next.code, 0, next.stderr);
          assert.ok(`${next.stdout}${next.stderr}`.includes(`/workspace = ${join(t.root, "next")}`), `wt made the next worktree beside the repository: ${next.stderr}`);
          const fsck = hostGit(user, t.repo, "fsck", "--no-dangling");
          assert.equal(fsck.code, 0, `git fsck: ${fsck.stderr}`);
          assert.equal(hostGit(user, t.repo, "rev-parse", "main~1").stdout.trim(), mainBefore, "main is where it was (plus the host's own commit)");
          assert.equal(hostGit(user, t.repo, "log", "--oneline", "main").code, 0, "git log main works");
        } finally {
          await t.cleanup();
        }
      });
    }

    test("legit flow: commits, amend and rebase inside reach the host's branch; a host commit reaches the sandbox", async () => {
      const t = makeTestEnv("heyvm-gitb-");
      try {
        chownTree(t.root, user);
        const started = await heyvm(t, user, ["wt", "feat", "-b", "--detach", "--backend", "bubblewrap", "--no-network"]);
        assert.equal(started.code, 0, started.stderr);
        const id = idOf(started.stdout);
        const worktree = join(t.root, "feat");
        const inside = async (script: string): Promise<string> => {
          const result = await heyvm(t, user, ["exec", id, "--", "bash", "-c", `set -e\n${script}`]);
          assert.equal(result.code, 0, `${script}: ${result.stderr}`);
          return result.stdout;
        };
        const hostTip = () => hostGit(user, t.repo, "rev-parse", "refs/heads/feat").stdout.trim();
        const hostClean = () => hostGit(user, worktree, "status", "--porcelain").stdout === "";
        for (const n of [1, 2, 3]) {
          const tip = (await inside(`echo ${n} > file${n}; git add file${n}; git commit -qm "commit ${n}"; git rev-parse HEAD`)).trim();
          // the branch moves first, the host worktree's index a moment later
          await waitFor(() => hostTip() === tip && hostClean(), 10_000, `commit ${n} on the host's branch, git status on the host clean`);
        }
        const amended = (await inside(`git commit -q --amend -m "commit 3, amended"; git rev-parse HEAD`)).trim();
        await waitFor(() => hostTip() === amended, 10_000, "the amended commit on the host's branch");
        assert.match(hostGit(user, t.repo, "reflog", "feat").stdout, /forced/, "the forced move is in the host's reflog");
        // main moves on the host; the sandbox sees it and rebases onto it
        writeFileSync(join(t.repo, "main-file"), "main\n");
        hostGit(user, t.repo, "add", "main-file");
        hostGit(user, t.repo, "commit", "-qm", "main moves");
        const main = hostGit(user, t.repo, "rev-parse", "main").stdout.trim();
        await waitFor(async () => (await inside("git rev-parse main")).trim() === main, 10_000, "main's new commit in the sandbox");
        const rebased = (await inside(`git rebase -q main; git rev-parse HEAD`)).trim();
        await waitFor(() => hostTip() === rebased && hostClean(), 10_000, "the rebased branch on the host, git status on the host clean");
        assert.equal(hostGit(user, t.repo, "merge-base", "--is-ancestor", main, "feat").code, 0);
        // a commit made on the host in the worktree reaches the sandbox
        writeFileSync(join(worktree, "host-file"), "host\n");
        hostGit(user, worktree, "add", "host-file");
        hostGit(user, worktree, "commit", "-qm", "from the host");
        const fromHost = hostTip();
        await waitFor(async () => (await inside("git rev-parse HEAD")).trim() === fromHost, 10_000, "the host's commit in the sandbox");
        assert.equal(await inside("git status --porcelain"), "", "git status inside is clean");
        // the rest of everyday git inside
        const everyday = await inside(`echo wip >> file1; git diff --stat | grep -q file1; git stash -q; git stash list | grep -q stash; git stash pop -q
git branch side; git branch --list side | grep -q side; git log --oneline -3 >/dev/null; git checkout -q -- file1; git status --porcelain`);
        assert.equal(everyday, "");
        assert.equal(hostGit(user, t.repo, "rev-parse", "-q", "--verify", "refs/heads/side").code, 1, "a branch made inside stays inside");
        assert.equal(hostGit(user, t.repo, "fsck", "--no-dangling").code, 0);
      } finally {
        await t.cleanup();
      }
    });
  });
}

describe("git sync when both sides moved", { skip }, () => {
  test("the host's own commits stay on its branch; the sandbox's commit is kept as refs/heyvm/<id>/<branch>", async () => {
    const t = makeTestEnv("heyvm-gitb-");
    try {
      const started = await t.run(["wt", "feat", "-b", "--detach", "--backend", "bubblewrap", "--no-network"]);
      assert.equal(started.code, 0, started.stderr);
      const id = idOf(started.stdout);
      assert.equal((await t.run(["stop", id])).code, 0);
      // both sides move while the sandbox is stopped: a commit in its store, one on the host's branch
      const store = join(t.home, "sandboxes", id, "git");
      const inStore = (...args: string[]) => git(t.repo, `--git-dir=${store}`, "-c", `core.alternateRefsCommand=`, ...args).trim();
      writeFileSync(join(store, "objects", "info", "alternates"), `${join(t.repo, ".git", "objects")}\n`); // as the sandbox sees it, for this test's own git only
      const sandboxCommit = inStore("commit-tree", "-p", "feat", "-m", "inside", git(t.repo, "rev-parse", "feat^{tree}").trim());
      inStore("update-ref", "refs/heads/feat", sandboxCommit);
      writeFileSync(join(store, "objects", "info", "alternates"), "../host-objects\n");
      const worktree = join(t.root, "feat");
      writeFileSync(join(worktree, "host-file"), "host\n");
      git(worktree, "add", "host-file");
      git(worktree, "commit", "-qm", "the host's own");
      const hostCommit = git(t.repo, "rev-parse", "feat").trim();
      const synced = await t.run(["__git_sync", id]);
      assert.equal(synced.code, 0, synced.stderr);
      assert.equal(git(t.repo, "rev-parse", "feat").trim(), hostCommit, "the host's branch keeps its own commit");
      assert.equal(git(t.repo, "rev-parse", `refs/heyvm/${id}/feat`).trim(), sandboxCommit, "the sandbox's commit is kept aside on the host");
      assert.match(readFileSync(join(t.home, "sandboxes", id, "owner.log"), "utf8"), new RegExp(`kept as refs/heyvm/${id}/feat`));
      assert.equal(spawnSync("git", ["-C", t.repo, "fsck", "--no-dangling"]).status, 0);
    } finally {
      await t.cleanup();
    }
  });
});

boundaryTests("root", () => ({ uid: 0, gid: 0, prefix: [] }), () => undefined);

boundaryTests(
  `a non-root user (${USER_NAME})`,
  () => {
    spawnSync("userdel", ["-f", USER_NAME]);
    const added = spawnSync("useradd", ["-M", "-d", "/nonexistent", "-s", "/bin/sh", USER_NAME], { encoding: "utf8" });
    assert.equal(added.status, 0, added.stderr);
    const uid = Number(spawnSync("id", ["-u", USER_NAME], { encoding: "utf8" }).stdout.trim());
    const gid = Number(spawnSync("id", ["-g", USER_NAME], { encoding: "utf8" }).stdout.trim());
    return { uid, gid, prefix: ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--"] };
  },
  () => {
    spawnSync("userdel", ["-f", USER_NAME]);
  },
);

/** Why the libvirt block cannot run here, or false. */
function libvirtMissing(): string | false {
  if (process.getuid?.() !== 0) return "the libvirt block needs root (it plants a root shell in its copy of the VM image)";
  for (const tool of ["virsh", "qemu-system-x86_64", "qemu-img", "mmdebstrap", "ssh", "debugfs", "gcc"]) if (!hasCommand(tool)) return `${tool} is not installed`;
  const virsh = spawnSync("virsh", ["-c", "qemu:///system", "uri"], { encoding: "utf8", timeout: 60_000 });
  if (virsh.status !== 0) return `libvirtd is not reachable (${virsh.stderr.trim()}); run scripts/start-services.sh`;
  return false;
}

// What the guest tries, as heyo and as its root: each line `<what> wrote|refused`. The host's git
// folder is at its host path C (the old guest saw it there); the store at /heyvm/git.
const GUEST_ATTACKS = `
try() { what=$1; shift; if ( "$@" ) >/dev/null 2>&1; then echo "$what wrote"; else echo "$what refused"; fi; }
try "host git folder visible" test -e "$C"
try "commondir in the main git folder" sh -c 'echo "$WT/.evil" > "$C/commondir"'
try "commondir in the worktree's admin folder" sh -c 'echo "$WT/.evil" > "$C/worktrees/feat/commondir"'
try "host config" sh -c 'test -f "$C/config" && git config --file "$C/config" core.fsmonitor "$WT/.payload.sh"'
try "host hooks" sh -c 'test -d "$C" && mkdir -p "$C/hooks" && cp $P "$C/hooks/post-checkout"'
try "host objects deleted" sh -c 'test -d "$C/objects" && find "$C/objects" -type f -delete'
try "/workspace/.git written" sh -c 'printf "gitdir: %s\\n" "$WT/.evil" > /workspace/.git'
try "/workspace/.git renamed" mv /workspace/.git /workspace/.git.moved
try "/workspace/.git removed" rm -f /workspace/.git
try "/workspace/.git made writable" chmod 666 /workspace/.git
try "host objects in the store written" touch /heyvm/git/host-objects/planted
try "host objects in the store deleted" sh -c 'find /heyvm/git/host-objects -type f | grep -q . && find /heyvm/git/host-objects -type f -delete'
try "the store's host objects unmounted" umount /heyvm/git/host-objects
`;

describe("git boundary on libvirt, heyvm as root, the guest as heyo and as its root", { skip: libvirtMissing(), timeout: 1_800_000 }, () => {
  const root: HostUser = { uid: 0, gid: 0, prefix: [] };
  test("the host's git folder is out of reach, /workspace/.git and the host's objects are read-only on the host side; commits cross both ways", { timeout: 1_800_000 }, async () => {
    const t = makeTestEnv("heyvm-gitb-vm-");
    let id = "";
    try {
      const image = join(t.home, "images", "libvirt", "default");
      // a built default image may be lent to the test (it is built otherwise, which takes minutes)
      const lent = process.env.HEYVM_TEST_LIBVIRT_IMAGE;
      if (lent && existsSync(join(lent, "image.json"))) cpSync(lent, image, { recursive: true });
      else assert.equal((await t.run(["images", "build", "--backend-type", "libvirt"], { timeoutMs: 1_200_000 })).code, 0, "the default image builds");
      plantGuestRootShell(image, t.root);
      const marker = join(t.root, "marker");
      const common = join(t.repo, ".git");
      const worktree = join(t.root, "feat");
      const mainBefore = hostGit(root, t.repo, "rev-parse", "main").stdout.trim();
      const objectsBefore = spawnSync("find", [join(common, "objects"), "-type", "f"], { encoding: "utf8" }).stdout;
      const started = await t.run(["wt", "feat", "-b", "--detach", "--backend", "libvirt", "--no-network"], { timeoutMs: 600_000 });
      assert.equal(started.code, 0, started.stderr);
      id = idOf(started.stdout);
      const gitFileBefore = readFileSync(join(worktree, ".git"), "utf8");
      const settings = `C=${common} WT=${worktree} M=${marker}\n${PAYLOAD}\nexport C WT M P\n`;
      const asHeyo = await t.run(["exec", id, "--", "bash", "-c", `${settings}${GUEST_ATTACKS}`]);
      assert.equal(asHeyo.code, 0, asHeyo.stderr);
      const asRoot = await t.run(["exec", id, "--", GUEST_ROOT_SHELL, "-c", `[ "$(id -u)" = 0 ] || echo "not root"\n${settings}${GUEST_ATTACKS}`]);
      assert.equal(asRoot.code, 0, asRoot.stderr);
      // the host user's git, as an IDE runs it, then a commit
      hostGit(root, worktree, "status");
      hostGit(root, t.repo, "status");
      hostGit(root, t.repo, "commit", "--allow-empty", "-qm", "on the host");
      const done: Record<string, string[]> = {};
      for (const [who, result] of [["heyo", asHeyo], ["root", asRoot]] as const) {
        const lines = result.stdout.trim().split("\n");
        assert.equal(lines.length, 13, `every attempt reported (${who}):\n${result.stdout}${result.stderr}`);
        done[who] = lines.filter((line) => !line.endsWith(" refused"));
      }
      assert.deepEqual(done, { heyo: [], root: [] }, "what the guest's heyo and root could do");
      assert.ok(!existsSync(marker), "the guest's planted code ran on the host");
      for (const name of ["commondir", "hooks/post-checkout"]) assert.ok(!existsSync(join(common, name)), `${name} in the host's git folder`);
      assert.equal(readFileSync(join(common, "worktrees", "feat", "commondir"), "utf8"), "../..\n", "the worktree's commondir as git wrote it");
      assert.doesNotMatch(readFileSync(join(common, "config"), "utf8"), /fsmonitor|hooksPath/);
      assert.equal(readFileSync(join(worktree, ".git"), "utf8"), gitFileBefore, "the worktree's .git on the host as git wrote it");
      const objectsAfter = new Set(spawnSync("find", [join(common, "objects"), "-type", "f"], { encoding: "utf8" }).stdout.split("\n"));
      assert.deepEqual(objectsBefore.split("\n").filter((path) => !objectsAfter.has(path)), [], "every object file the host had is still there");
      assert.equal(hostGit(root, t.repo, "rev-parse", "main~1").stdout.trim(), mainBefore, "main is where it was (plus the host's own commit)");

      // the legit flow: a commit inside reaches the host's branch, a host commit the guest (the
      // attack's own files gone first, so the worktree's status can be clean)
      for (const name of [".payload.sh", ".hooks", ".evil"]) rmSync(join(worktree, name), { recursive: true, force: true });
      const inside = async (script: string): Promise<string> => {
        const result = await t.run(["exec", id, "--", "bash", "-c", `set -e\ncd /workspace\n${script}`]);
        assert.equal(result.code, 0, `${script}: ${result.stderr}`);
        return result.stdout;
      };
      const hostTip = () => hostGit(root, t.repo, "rev-parse", "refs/heads/feat").stdout.trim();
      const hostClean = () => hostGit(root, worktree, "status", "--porcelain").stdout === "";
      const tip = (await inside(`echo 1 > file1; git add file1; git commit -qm "commit 1"; git rev-parse HEAD`)).trim();
      const ownerLog = () => readFileSync(join(t.home, "sandboxes", id, "owner.log"), "utf8").split("\n").filter((line) => /git/.test(line)).join("\n");
      await waitFor(() => hostTip() === tip && hostClean(), 10_000, "the guest's commit on the host's branch, git status on the host clean").catch((error: unknown) => {
        throw new Error(`${String(error)}\nowner.log:\n${ownerLog()}`);
      });
      writeFileSync(join(worktree, "host-file"), "host\n");
      hostGit(root, worktree, "add", "host-file");
      hostGit(root, worktree, "commit", "-qm", "from the host");
      const fromHost = hostTip();
      await waitFor(async () => (await inside("git rev-parse HEAD")).trim() === fromHost, 10_000, "the host's commit in the guest").catch(async (error: unknown) => {
        throw new Error(`${String(error)} (${fromHost}; inside: ${await inside("git rev-parse HEAD; git status --porcelain")})\nowner.log:\n${ownerLog()}`);
      });
      assert.equal(await inside("git status --porcelain"), "", "git status in the guest is clean");
      assert.equal(await inside("git fsck --no-dangling >/dev/null 2>&1 && echo clean"), "clean\n", "git fsck in the guest");
      const fsck = hostGit(root, t.repo, "fsck", "--no-dangling");
      assert.equal(fsck.code, 0, `git fsck on the host: ${fsck.stderr}`);
    } finally {
      if (id) await t.run(["stop", id]);
      await t.cleanup();
      if (id) spawnSync("virsh", ["-c", "qemu:///system", "destroy", `heyvm-${id}`]);
    }
  });
});
