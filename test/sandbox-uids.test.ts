// Who a sandbox is on the host, tried from inside as hostile code would: it makes setuid and
// setgid files and device nodes in /workspace every way it can (chmod, install, open with a
// mode, python, node, mknod), as root's sandbox and as a regular user's; two sandboxes of root
// never share a host uid; and after `heyvm rm` nothing of heyvm's (ACL entries, the sandbox's
// uid as owner) is left on the user's files, which the user can still edit, chmod and reset.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { HEYVM, bubblewrapMissing, hasCommand, idOf, isAlive, makeRepo, ownerPids, waitFor } from "./helpers/env.js";
import { makeTestUser, runAs, type TestUser } from "./helpers/test-user.js";
import { confinedSftpServer } from "../src/backends/firecracker/host-side.js";
import { grantSandboxAccess } from "../src/backends/bubblewrap/host-user.js";
import { REGISTRY, sandboxHostUser } from "../src/backends/host-ids.js";
import { api, createToken, startCloudServer, uploadArchive, type CloudServer } from "./helpers/cloud-server.js";
import { makeTarGz } from "./helpers/cloud-tar.js";
import { releaseSandboxHost } from "../src/backends/sandbox-release.js";
import { shellQuote } from "../src/shared/shell-quote.js";
import { heyoHome } from "../src/state/home.js";
import type { SandboxSpec } from "../src/state/records.js";
import { SandboxDir } from "../src/state/sandbox-dir.js";
import { GUEST_ROOT_SHELL, plantGuestRootShell } from "./helpers/guest-root-shell.js";

const isRoot = process.getuid?.() === 0;
const skip = bubblewrapMissing() || (isRoot ? false : "needs root (it makes its own host users)");

/** Every way a process inside tries to leave a setuid/setgid file or a device node in /workspace. */
const ATTACKS = `cd /workspace
touch f-chmod; chmod u+s f-chmod; chmod 6755 f-chmod
mkdir d-setgid; chmod g+s d-setgid
install -m 4755 /bin/sh sh-install
cp /bin/sh sh-cp; chmod 4755 sh-cp
python3 -c 'import os; os.close(os.open("py-open", os.O_CREAT | os.O_WRONLY, 0o4755))'
python3 -c 'import os; open("py-fchmod", "w").close(); os.chmod("py-fchmod", 0o2755)'
python3 -c 'import os; os.mkdir("py-mkdir", 0o2755)'
node -e 'const fs = require("fs"); fs.writeFileSync("node-open", "x", { mode: 0o4755 }); fs.writeFileSync("node-chmod", "x"); fs.chmodSync("node-chmod", 0o4755)'
mknod dev-null c 1 3 && echo MKNOD-CHAR-MADE
mknod dev-blk b 7 0 && echo MKNOD-BLOCK-MADE
python3 -c 'import os, stat; os.mknod("py-dev", 0o666 | stat.S_IFCHR, os.makedev(1, 3))' 2>/dev/null && echo PY-MKNOD-MADE
exit 0
`;

/** Files under root (not through links) with a setuid or setgid bit, and device nodes. */
function specialFiles(root: string): string[] {
  const found: string[] = [];
  const walk = (path: string) => {
    const stat = lstatSync(path);
    if ((stat.mode & 0o6000) !== 0 || stat.isCharacterDevice() || stat.isBlockDevice()) found.push(`${path} (${(stat.mode & 0o7777).toString(8)})`);
    if (stat.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(root);
  return found;
}

/** Paths under root owned by one of the uids. */
function ownedBy(root: string, uids: number[]): string[] {
  const found: string[] = [];
  const walk = (path: string) => {
    const stat = lstatSync(path);
    if (uids.includes(stat.uid) || uids.includes(stat.gid)) found.push(path);
    if (stat.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(root);
  return found;
}

/** Extended ACL entries (getfacl -s lists only files that have any) on the trees and the folders above them. */
function aclLeftovers(trees: string[]): string {
  const above = new Set<string>();
  for (const tree of trees) for (let dir = dirname(tree); dir !== dirname(dir); dir = dirname(dir)) above.add(dir);
  const inTrees = spawnSync("getfacl", ["-R", "-P", "-s", "-p", "-n", "--", ...trees], { encoding: "utf8" }).stdout;
  const onWay = spawnSync("getfacl", ["-s", "-p", "-n", "--", ...above], { encoding: "utf8" }).stdout;
  return `${inTrees}${onWay}`.trim();
}

interface Setup {
  root: string;
  repo: string;
  heyo: string;
  user: TestUser | undefined;
  heyvm(args: string[]): ReturnType<typeof runAs>;
  cleanup(): Promise<void>;
}

/** A repository and a HEYO_HOME for heyvm run as root (user undefined) or as a new user who owns them. */
function setUp(userName: string | undefined): Setup {
  const root = mkdtempSync(join(tmpdir(), "heyvm-uids-"));
  const user = userName ? makeTestUser(userName, root) : undefined;
  const repo = join(root, "repo");
  makeRepo(repo);
  if (user) spawnSync("chown", ["-R", `${user.uid}:${user.gid}`, root]);
  const heyo = join(root, "heyo");
  return {
    root,
    repo,
    heyo,
    user,
    heyvm: (args) => runAs(user, [HEYVM, ...args], { cwd: repo, env: { HEYO_HOME: heyo } }),
    async cleanup() {
      const pids = ownerPids(heyo);
      for (const pid of pids) process.kill(pid, "SIGTERM");
      await waitFor(() => pids.every((pid) => !isAlive(pid)), 20_000, "owners to stop").catch(() => pids.forEach((pid) => isAlive(pid) && process.kill(pid, "SIGKILL")));
      user?.remove();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

async function startSandbox(setup: Setup, branch: string): Promise<string> {
  const started = await setup.heyvm(["wt", branch, "--detach", "--no-network", "--backend", "bubblewrap"]);
  assert.equal(started.code, 0, started.stderr);
  return idOf(started.stdout);
}

describe("no sandbox makes a setuid/setgid file or a device node on the host", { skip }, () => {
  for (const [who, userName] of [["root", undefined], ["a regular user", "hvuids1"]] as const) {
    test(`heyvm run by ${who}: every attempt from inside is refused, and the host has none`, async () => {
      const setup = setUp(userName);
      try {
        const id = await startSandbox(setup, "attack");
        const ran = await setup.heyvm(["exec", id, "--", "sh", "-c", ATTACKS]);
        assert.equal(ran.code, 0, ran.stderr);
        assert.doesNotMatch(ran.stdout, /MADE/, "no device node was made inside");
        const worktree = join(setup.root, "attack");
        assert.ok(existsSync(join(worktree, "f-chmod")) && existsSync(join(worktree, "sh-install")), `the files themselves were made: ${ran.stderr}`);
        assert.deepEqual(specialFiles(worktree), [], `setuid/setgid files or devices left on the host by the sandbox:\n${ran.stderr}`);
        assert.deepEqual(specialFiles(join(setup.repo, ".git")), []);
        // and the sandbox still works: a plain chmod and git
        const plain = await setup.heyvm(["exec", id, "--", "sh", "-c", "chmod 755 f-chmod && git add -A && git -c user.email=a@b -c user.name=a commit -qm made && echo ok"]);
        assert.equal(plain.stdout.trim(), "ok", plain.stderr);
      } finally {
        await setup.cleanup();
      }
    });
  }
});

describe("each of root's sandboxes is its own host uid, and rm leaves nothing of heyvm's", { skip }, () => {
  let setup: Setup;
  before(() => {
    setup = setUp(undefined);
  });
  after(() => setup.cleanup());

  test("two sandboxes have two unprivileged uids; the owner keeps full use; rm gives everything back", async () => {
    const one = await startSandbox(setup, "one");
    const two = await startSandbox(setup, "two");
    const make = "mkdir -p made/deep && echo x > made/deep/file && echo y > tool.sh && git add -A && git -c user.email=a@b -c user.name=a commit -qm sandbox";
    for (const id of [one, two]) {
      const ran = await setup.heyvm(["exec", id, "--", "sh", "-c", make]);
      assert.equal(ran.code, 0, ran.stderr);
    }
    const uidOne = lstatSync(join(setup.root, "one", "tool.sh")).uid;
    const uidTwo = lstatSync(join(setup.root, "two", "tool.sh")).uid;
    assert.notEqual(uidOne, uidTwo, "two sandboxes share a host uid");
    for (const uid of [uidOne, uidTwo]) assert.ok(uid !== 0, `sandbox uid ${uid} is root`);
    const asOwner = (cwd: string, script: string) => runAs(undefined, ["sh", "-c", script], { cwd });

    assert.equal((await setup.heyvm(["rm", one, "-y"])).code, 0);
    assert.equal((await setup.heyvm(["rm", two, "-y", "--worktree", "--force"])).code, 0);
    assert.equal(existsSync(join(setup.root, "two")), false);
    assert.equal(aclLeftovers([join(setup.root, "one"), setup.repo]), "", "ACL entries left after rm");
    assert.deepEqual(ownedBy(setup.root, [uidOne, uidTwo]), [], "files still owned by a removed sandbox's uid");
    for (const slot of existsSync("/var/lib/heyvm/host-ids") ? readdirSync("/var/lib/heyvm/host-ids") : []) {
      assert.ok(!readFileSync(join("/var/lib/heyvm/host-ids", slot), "utf8").startsWith(setup.heyo), `slot ${slot} still held by a removed sandbox`);
    }
    // what the sandbox made is the worktree owner's again: chmod +x, and git's own resets
    const use = await asOwner(
      join(setup.root, "one"),
      "chmod +x tool.sh && test -x tool.sh && echo z > tool.sh && git reset -q --hard HEAD && touch junk && git clean -qfdx && git checkout -q -- . && git status --porcelain && echo ok",
    );
    assert.equal(use.stdout.trim(), "ok", use.stderr);
  });
});

describe("a regular user keeps full use of what its sandbox makes while it runs", { skip }, () => {
  test("chmod +x, rename, delete, git checkout/reset/clean on the sandbox's files, and rm leaves no ACL", async () => {
    const setup = setUp("hvuids3");
    try {
      const id = await startSandbox(setup, "mine");
      const made = await setup.heyvm(["exec", id, "--", "sh", "-c", "mkdir -p gen && echo a > gen/a.sh && echo b > b.txt && git add b.txt && git -c user.email=a@b -c user.name=a commit -qm b"]);
      assert.equal(made.code, 0, made.stderr);
      const worktree = join(setup.root, "mine");
      // the sandbox commits in its own git store; heyvm carries the commit to the host's branch
      const hostHead = () => spawnSync("git", ["-c", "safe.directory=*", "-C", worktree, "log", "-1", "--format=%s"], { encoding: "utf8" }).stdout.trim();
      await waitFor(() => hostHead() === "b", 15_000, "the sandbox's commit on the host's branch");
      const use = await runAs(setup.user, ["sh", "-c", "chmod +x gen/a.sh && mv gen/a.sh gen/c.sh && rm gen/c.sh && echo c > b.txt && git checkout -q -- b.txt && echo d > b.txt && git reset -q --hard && touch junk && git clean -qfdx && git status --porcelain && echo ok"], { cwd: worktree });
      assert.equal(use.stdout.trim(), "ok", use.stderr);
      writeFileSync(join(worktree, "host.txt"), "from the host\n");
      const seen = await setup.heyvm(["exec", id, "--", "cat", "host.txt"]);
      assert.equal(seen.stdout, "from the host\n");
      assert.equal((await setup.heyvm(["rm", id, "-y", "--worktree", "--force"])).code, 0);
      assert.equal(aclLeftovers([setup.repo]), "");
    } finally {
      await setup.cleanup();
    }
  });
});

function libvirtSkip(): string | false {
  if (!isRoot) return "needs root (it builds the VM image and makes its own host users)";
  for (const tool of ["virsh", "qemu-system-x86_64", "debugfs", "gcc", "qemu-img", "mmdebstrap"]) if (!hasCommand(tool)) return `${tool} is not installed`;
  if (spawnSync("virsh", ["-c", "qemu:///system", "uri"], { encoding: "utf8" }).status !== 0) return "libvirtd is not reachable at qemu:///system";
  return false;
}

/** Processes of a uid (a test user's session libvirtd and its QEMU), ended one by one by pid. */
function endProcessesOf(uid: number): void {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (lstatSync(`/proc/${entry}`).uid === uid) process.kill(Number(entry), "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
}

describe("a VM guest's root is never root on the host's folders", { skip: libvirtSkip() }, () => {
  let setup: Setup;
  let image = "";
  let hostUser: TestUser;
  before(() => {
    setup = setUp(undefined);
    hostUser = makeTestUser("hvuids4", setup.root);
  });
  after(async () => {
    await setup.cleanup();
    hostUser.remove();
  });

  test("root's guest: its root writes a setuid root shell into /workspace and the host's .git; the host has no setuid or root-owned file of it", { timeout: 1_500_000 }, async () => {
    const built = await runAs(undefined, [HEYVM, "images", "build", "--backend-type", "libvirt"], { cwd: setup.repo, env: { HEYO_HOME: setup.heyo }, timeoutMs: 1_200_000 });
    assert.equal(built.code, 0, built.stderr);
    image = join(setup.heyo, "images", "libvirt", "default");
    plantGuestRootShell(image, setup.root);
    const started = await runAs(undefined, [HEYVM, "wt", "vm", "--detach", "--backend", "libvirt"], { cwd: setup.repo, env: { HEYO_HOME: setup.heyo }, timeoutMs: 600_000 });
    assert.equal(started.code, 0, started.stderr);
    const id = idOf(started.stdout);
    const gitDir = join(setup.repo, ".git");
    const worktree = join(setup.root, "vm");
    const attack = `${GUEST_ROOT_SHELL} -c 'id -u'
${GUEST_ROOT_SHELL} -c 'cd /workspace; cp /bin/sh rootsh; chown 0:0 rootsh; chmod 4755 rootsh
for g in ${gitDir}/config ${gitDir}/hooks; do umount "$g"; done
cp /bin/sh ${gitDir}/rootsh; chmod 4755 ${gitDir}/rootsh; touch ${gitDir}/root-was-here'
cp /bin/sh /workspace/heyo-sh; chmod 4755 /workspace/heyo-sh
exit 0`;
    const ran = await setup.heyvm(["exec", id, "--", "sh", "-c", attack]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout.split("\n")[0], "0", `the planted shell is root inside the guest: ${ran.stderr}`);
    chmodSync(setup.root, 0o755); // the test's folder (0700) is the host user's way to what the guest left
    const candidates = [join(worktree, "rootsh"), join(worktree, "heyo-sh"), join(gitDir, "rootsh"), join(gitDir, "root-was-here")].filter((path) => existsSync(path));
    for (const path of candidates) {
      const asUser = await runAs(hostUser, [path, "-p", "-c", "id -u"], { cwd: setup.root }); // -p: dash keeps a setuid euid
      assert.notEqual(asUser.stdout.trim(), "0", `running ${path} made ${hostUser.name} root`);
      assert.notEqual(lstatSync(path).uid, 0, `${path} was made by the guest and belongs to root on the host`);
    }
    assert.deepEqual(specialFiles(worktree), [], `setuid/setgid files from the guest in the worktree:\n${ran.stderr}`);
    assert.deepEqual(specialFiles(gitDir), [], "setuid/setgid files from the guest in the git folder");
  });

  test("a regular user's VM sandbox runs on qemu:///session with heyvm's virtiofsd: its files are the user's, no setuid", { timeout: 600_000 }, async () => {
    assert.ok(image, "the first test built the image");
    const mine = setUp("hvuids5");
    const user = mine.user as TestUser;
    try {
      spawnSync("mkdir", ["-p", join(mine.heyo, "images", "libvirt")]);
      spawnSync("cp", ["-a", image, join(mine.heyo, "images", "libvirt", "default")]);
      spawnSync("chown", ["-R", `${user.uid}:${user.gid}`, mine.heyo]);
      const backends = await mine.heyvm(["backends", "--format", "json"]);
      const libvirt = (JSON.parse(backends.stdout) as Array<{ name: string; status: string; reason: string | null }>).find((backend) => backend.name === "libvirt");
      assert.ok(libvirt && ["usable", "degraded"].includes(libvirt.status), `heyvm backends says of libvirt for a regular user: ${JSON.stringify(libvirt)}`);
      const started = await runAs(user, [HEYVM, "wt", "vm", "--detach", "--backend", "libvirt"], { cwd: mine.repo, env: { HEYO_HOME: mine.heyo }, timeoutMs: 400_000 });
      assert.equal(started.code, 0, started.stderr);
      const id = idOf(started.stdout);
      const ran = await mine.heyvm(["exec", id, "--", "sh", "-c", `cd /workspace; echo hi > made.txt; cp /bin/sh s; chmod 4755 s; ${GUEST_ROOT_SHELL} -c 'cp /bin/sh /workspace/rootsh; chmod 4755 /workspace/rootsh'; id -u; exit 0`]);
      assert.equal(ran.code, 0, ran.stderr);
      assert.equal(ran.stdout.trim(), String(user.uid), "heyo is the user's uid inside");
      const worktree = join(mine.root, "vm");
      assert.equal(lstatSync(join(worktree, "made.txt")).uid, user.uid, "what the guest writes is the user's on the host");
      assert.deepEqual(specialFiles(worktree), []);
      if (existsSync(join(worktree, "rootsh"))) assert.equal(lstatSync(join(worktree, "rootsh")).uid, user.uid);
      const use = await runAs(user, ["sh", "-c", "chmod +x made.txt && mv made.txt moved.txt && rm moved.txt s && echo ok"], { cwd: worktree });
      assert.equal(use.stdout.trim(), "ok", use.stderr);
      assert.equal((await mine.heyvm(["rm", id, "-y"])).code, 0);
    } finally {
      endProcessesOf(user.uid);
      await mine.cleanup();
    }
  });
});

describe("the firecracker backend's sftp-server sets no setuid bit and writes as the sandbox's uid", { skip: bubblewrapMissing() || (hasCommand("sftp") ? false : "sftp (openssh-client) is not installed") }, () => {
  test("an SFTP client's chmod 4755 on the confined sftp-server is refused", async () => {
    const root = mkdtempSync(join(tmpdir(), "heyvm-uids-sftp-"));
    const dir = new SandboxDir(heyoHome({ HEYO_HOME: join(root, "heyo") }), "sb-5f7p0000");
    const workspace = join(root, "ws");
    const spec = { workspace, mounts: [] } as unknown as SandboxSpec; // what confinedSftpServer reads
    try {
      mkdirSync(workspace);
      mkdirSync(dir.guestConfigPath, { recursive: true, mode: 0o700 });
      const user = await sandboxHostUser(dir);
      const inside = user.dropsRoot ? 0 : user.uid;
      const accounts = { passwd: join(dir.guestConfigPath, "sftp-passwd"), group: join(dir.guestConfigPath, "sftp-group") };
      writeFileSync(accounts.passwd, `heyo:x:${inside}:${inside}:heyo:/workspace:/bin/sh\n`, { mode: 0o644 });
      writeFileSync(accounts.group, `heyo:x:${inside}:\n`, { mode: 0o644 });
      await grantSandboxAccess(user, { writable: [workspace], readable: [accounts.passwd, accounts.group], owned: [] }, { progress: () => undefined, info: () => undefined });
      const server = join(root, "server.sh");
      writeFileSync(server, `#!/bin/sh\nexec ${confinedSftpServer(spec, accounts, user).map(shellQuote).join(" ")}\n`, { mode: 0o755 });
      const batch = join(root, "batch");
      writeFileSync(batch, "put /bin/sh sh\n-chmod 4755 sh\n-chmod 2755 sh\nls -l sh\n");
      const ran = await runAs(undefined, ["sftp", "-D", server, "-b", batch], { cwd: root });
      assert.equal(ran.code, 0, ran.stderr);
      const made = lstatSync(join(workspace, "sh"));
      assert.equal(made.mode & 0o6000, 0, `the sftp-server set a setuid/setgid bit:\n${ran.stdout}${ran.stderr}`);
      assert.equal(made.uid, user.uid, "what the guest writes belongs to the sandbox's host user");
      if (user.dropsRoot) assert.notEqual(made.uid, 0);
      await releaseSandboxHost(dir, spec);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("two cloud tenants of heyvm server run as two host uids", { skip: skip || (hasCommand("pasta") ? false : "pasta is not installed") }, () => {
  let server: CloudServer;
  const dataDir = mkdtempSync(join(tmpdir(), "heyvm-uids-cloud-"));
  before(async () => {
    server = await startCloudServer({ dataDir });
  });
  after(async () => {
    await server?.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("each deployment's files belong to its own unprivileged uid; deleting it frees that uid's slot", async () => {
    const made: Array<{ id: string; token: string; uid: number }> = [];
    for (const tenant of ["tenant-a", "tenant-b"]) {
      const token = createToken(dataDir, tenant);
      const { archiveId } = await uploadArchive(server, token, makeTarGz([{ path: "workspace/", type: "dir" }]));
      const created = await api(server, token, "POST", "/sandbox-deploy", { region: "US", image: "ubuntu:24.04", size_class: "small", driver: "bubblewrap", archive_id: archiveId, start_command: "echo x > made-here" });
      assert.equal(created.status, 202, JSON.stringify(created.json));
      const id = String(created.json.id);
      const file = join(dataDir, "workspaces", id, "made-here");
      await waitFor(() => existsSync(file), 30_000, `${tenant}'s start command to write its file`);
      made.push({ id, token, uid: lstatSync(file).uid });
    }
    const [first, second] = made;
    assert.ok(first && second);
    assert.notEqual(first.uid, second.uid, "two tenants share a host uid");
    for (const { uid } of made) assert.notEqual(uid, 0);
    for (const { id, token } of made) assert.equal((await api(server, token, "DELETE", `/deployed-sandboxes/${id}`)).status < 300, true);
    const slots = existsSync(REGISTRY) ? readdirSync(REGISTRY).map((slot) => readFileSync(join(REGISTRY, slot), "utf8")) : [];
    assert.deepEqual(slots.filter((folder) => folder.startsWith(dataDir)), [], "a deleted deployment still holds its host ids");
  });
});
