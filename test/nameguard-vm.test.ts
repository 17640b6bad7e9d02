// The name guard (issue 18 item 2) in front of the VM backends' /workspace channels: libvirt's
// virtiofsd (heyvm as root) and the firecracker stand-in's sftp-server. From inside one booted
// guest per backend, as its user heyo, each route by which a repository could appear in the
// worktree is tried (git init, mkdir .git, .GIT, a bare repository's HEAD, a folder renamed to
// .git, a link named .git, an existing nested repository's config and hooks written). Then the
// host's git runs where an IDE would: no marker, nothing git would discover, `git fsck` clean.
// Legit work (files, links, renames, `x/.github`, a commit reaching the host's branch) passes.
// A built default image may be lent with HEYVM_TEST_LIBVIRT_IMAGE / HEYVM_TEST_FIRECRACKER_IMAGE.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, readFileSync, readdirSync, lstatSync } from "node:fs";
import { join } from "node:path";
import { hasCommand, idOf, makeTestEnv, waitFor, type TestEnv } from "./helpers/env.js";
import { writeStandInExecutable } from "./helpers/stand-in-bin.js";
import { vsockHelper } from "../src/backends/firecracker/host-side.js";

/** git on the host as root (heyvm runs as root here), with no global config. */
function hostGit(home: string, cwd: string, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync("git", args, { cwd, encoding: "utf8", env: { ...process.env, HOME: home, GIT_CONFIG_NOSYSTEM: "1" }, timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

// Inside, in /workspace: HW = the worktree's host path, M = the marker (a host path). Each line
// `<route> wrote|refused`; `evil DIR` writes a config whose fsmonitor and hooks make the marker.
const GUEST_ROUTES = `
cd /workspace
printf '#!/bin/sh\\ntouch "%s"\\n' "$M" > .payload.sh; chmod +x .payload.sh
evil() { printf '[core]\\n\\trepositoryformatversion = 0\\n\\tbare = false\\n\\tfsmonitor = %s\\n\\thooksPath = %s\\n' "$HW/.payload.sh" "$HW/.hooks" > "$1/config"; }
try() { what=$1; shift; if ( "$@" ) >/dev/null 2>&1; then echo "$what wrote"; else echo "$what refused"; fi; }
try "git init sub" git init -q sub
try "mkdir sub2/.git" sh -c 'mkdir -p sub2 && mkdir sub2/.git && mkdir sub2/.git/objects sub2/.git/refs && echo "ref: refs/heads/main" > sub2/.git/HEAD'
for made in sub/.git sub2/.git; do evil $made 2>/dev/null; done
try "mkdir sub3/.GIT" sh -c 'mkdir -p sub3 && mkdir sub3/.GIT'
try "a bare repository's HEAD" sh -c 'mkdir -p bare/objects bare/refs && echo "ref: refs/heads/main" > bare/HEAD'
try "a folder renamed to .git" sh -c 'mkdir -p sub4 made && mv made sub4/.git'
try "a link named .git" sh -c 'mkdir -p sub5 && ln -s "$HW/nested/.git" sub5/.git'
try "the nested repository's config" sh -c 'printf "[core]\\n\\tfsmonitor = %s\\n" "$HW/.payload.sh" >> nested/.git/config'
try "a hook in the nested repository" sh -c 'cp .payload.sh nested/.git/hooks/post-checkout'
`;
const ROUTE_COUNT = 8;
const PROBES = ["sub", "sub2", "sub3", "bare", "sub4", "sub5", "nested"];

const LEGIT = `set -e
cd /workspace
echo hi > legit.txt; mv legit.txt legit2.txt; ln -s legit2.txt link; chmod 600 legit2.txt; echo again >> legit2.txt
echo changed > README.md
mkdir -p x/.github/workflows; echo on > x/.github/workflows/ci.yml; echo h > head; mkdir d; rmdir d
git add legit2.txt x head README.md; git commit -qm "from the guest"; git rev-parse HEAD
`;

/** Every entry under DIR named .git (any case) or HEAD, but inside the repositories' own .git folders. */
function gitNames(dir: string, top: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (/^\.git$/i.test(name) || name === "HEAD") {
      if (path !== join(top, ".git")) found.push(path);
      continue;
    }
    if (lstatSync(path).isDirectory()) found.push(...gitNames(path, top));
  }
  return found;
}

/** The routes from inside a started sandbox, then the host's view and the legit flow. */
async function attackAndCheck(t: TestEnv, id: string): Promise<void> {
  const worktree = join(t.root, "feat");
  const marker = join(t.root, "marker");
  // an existing nested repository, made by the host (root) and handed to the sandbox's user like the worktree
  hostGit(t.root, worktree, "init", "-q", "nested");
  const owner = lstatSync(join(worktree, "README.md"));
  spawnSync("chown", ["-R", `${owner.uid}:${owner.gid}`, join(worktree, "nested")]);
  spawnSync("sh", ["-c", `getfacl -p "$1" | setfacl -R --set-file=- "$2"`, "sh", worktree, join(worktree, "nested")]);
  const nestedConfig = readFileSync(join(worktree, "nested", ".git", "config"), "utf8");
  const attacked = await t.run(["exec", id, "--", "bash", "-c", `HW=${worktree} M=${marker}\n${GUEST_ROUTES}`], { timeoutMs: 300_000 });
  assert.equal(attacked.code, 0, attacked.stderr);
  const lines = attacked.stdout.trim().split("\n");
  assert.equal(lines.length, ROUTE_COUNT, `every route reported:\n${attacked.stdout}${attacked.stderr}`);
  // the host's git where an IDE runs it, as the owner of those files would (git's ownership check passes)
  for (const probe of PROBES) if (existsSync(join(worktree, probe))) hostGit(t.root, join(worktree, probe), "-c", "safe.directory=*", "status");
  hostGit(t.root, worktree, "-c", "safe.directory=*", "status");
  const wrote = lines.filter((line) => !line.endsWith(" refused"));
  assert.deepEqual({ wrote, markerRan: existsSync(marker) }, { wrote: [], markerRan: false }, `routes the guest got through, and did the host's git run its code:\n${attacked.stdout}`);
  assert.deepEqual(gitNames(worktree, worktree), [join(worktree, "nested", ".git")], "only the host's own nested repository");
  assert.equal(readFileSync(join(worktree, "nested", ".git", "config"), "utf8"), nestedConfig, "the nested repository's config as the host wrote it");
  assert.ok(!existsSync(join(worktree, "nested", ".git", "hooks", "post-checkout")));

  const legit = await t.run(["exec", id, "--", "bash", "-c", LEGIT], { timeoutMs: 300_000 });
  assert.equal(legit.code, 0, `legit work inside: ${legit.stderr}`);
  const tip = legit.stdout.trim();
  await waitFor(() => hostGit(t.root, t.repo, "rev-parse", "refs/heads/feat").stdout.trim() === tip, 20_000, "the guest's commit on the host's branch");
  assert.equal(readFileSync(join(worktree, "x", ".github", "workflows", "ci.yml"), "utf8"), "on\n");
  assert.equal(readFileSync(join(worktree, "legit2.txt"), "utf8"), "hi\nagain\n");
  assert.equal(readFileSync(join(worktree, "README.md"), "utf8"), "changed\n", "an existing file rewritten (virtiofsd reopens it through /proc/self/fd)");
  assert.equal(lstatSync(join(worktree, "legit2.txt")).mode & 0o777, 0o600);
  assert.ok(lstatSync(join(worktree, "link")).isSymbolicLink());
  const fsck = hostGit(t.root, t.repo, "fsck", "--no-dangling");
  assert.equal(fsck.code, 0, `git fsck on the host: ${fsck.stderr}`);
}

/** The default image: lent (copied) or built (minutes). */
async function provideImage(t: TestEnv, backend: string, lentVariable: string): Promise<void> {
  const lent = process.env[lentVariable];
  if (lent && existsSync(join(lent, "image.json"))) cpSync(lent, join(t.home, "images", backend, "default"), { recursive: true });
  else assert.equal((await t.run(["images", "build", "--backend-type", backend], { timeoutMs: 1_200_000 })).code, 0, "the default image builds");
}

function vmMissing(tools: string[]): string | false {
  if (process.getuid?.() !== 0) return "this file runs heyvm as root (the VM images are built with mmdebstrap and a chroot)";
  for (const tool of tools) if (!hasCommand(tool)) return `${tool} is not installed (scripts/install.sh installs it)`;
  return false;
}

function libvirtMissing(): string | false {
  const missing = vmMissing(["virsh", "qemu-system-x86_64", "qemu-img", "mmdebstrap", "ssh", "getfacl"]);
  if (missing) return missing;
  const virsh = spawnSync("virsh", ["-c", "qemu:///system", "uri"], { encoding: "utf8", timeout: 60_000 });
  return virsh.status === 0 ? false : `libvirtd is not reachable (${virsh.stderr.trim()}); run scripts/start-services.sh`;
}

function firecrackerMissing(): string | false {
  const missing = vmMissing(["qemu-system-x86_64", "mmdebstrap", "ssh", "bwrap", "setpriv", "getfacl"]);
  if (missing) return missing;
  if (!["/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server"].some((path) => existsSync(path))) return "openssh-sftp-server is not installed";
  return vsockHelper() ? false : "heyvm-vsock-connect is not built (npm run build)";
}

for (const backend of ["libvirt", "firecracker"] as const) {
  const skip = backend === "libvirt" ? libvirtMissing() : firecrackerMissing();
  describe(`the name guard on ${backend}'s /workspace channel, heyvm as root, the guest as heyo`, { skip, timeout: 1_800_000 }, () => {
    let t: TestEnv;
    let id = "";
    before(() => {
      t = makeTestEnv(`heyvm-ngvm-${backend}-`);
      if (backend === "firecracker") t.env.HEYVM_FIRECRACKER = writeStandInExecutable(t.root);
    });
    after(async () => {
      if (id) await t.run(["stop", id]);
      await t.cleanup();
      if (id && backend === "libvirt") spawnSync("virsh", ["-c", "qemu:///system", "destroy", `heyvm-${id}`]);
    });

    test("git init, .git, .GIT, HEAD, a rename or link to .git and a nested repository's config are refused; legit work and commits pass", { timeout: 1_800_000 }, async () => {
      await provideImage(t, backend, backend === "libvirt" ? "HEYVM_TEST_LIBVIRT_IMAGE" : "HEYVM_TEST_FIRECRACKER_IMAGE");
      const started = await t.run(["wt", "feat", "-b", "--detach", "--backend", backend, "--no-network"], { timeoutMs: 900_000 });
      assert.equal(started.code, 0, started.stderr);
      id = idOf(started.stdout);
      await attackAndCheck(t, id);
    });
  });
}
