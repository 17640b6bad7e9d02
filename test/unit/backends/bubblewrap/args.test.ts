// The bwrap command line: namespaces, what is bound where (and in which order, since later binds
// cover earlier ones), and the passwd/group files that make heyo uid 1000 inside.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { lstatSync, mkdirSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HOST_ETC, bwrapArgs, hostEtcArgs, sandboxAccounts, type BwrapLayout } from "../../../../src/backends/bubblewrap/args.js";
import { sandboxSpec, withTempDir } from "../../helpers/fixtures.js";

const hostLayout: BwrapLayout = {
  imageRoot: null,
  homeDir: "/state/sb-0123abcd/home",
  passwdFile: "/state/sb-0123abcd/passwd",
  groupFile: "/state/sb-0123abcd/group",
};

/** Every `flag a b` in argv, as [a, b]. */
function pairsAfter(argv: string[], flag: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  argv.forEach((word, i) => {
    if (word === flag) pairs.push([argv[i + 1] ?? "", argv[i + 2] ?? ""]);
  });
  return pairs;
}

/** The index of the first `flag a b` in argv, asserting it is there. */
function indexOfTriple(argv: string[], flag: string, a: string, b: string): number {
  const index = argv.findIndex((word, i) => word === flag && argv[i + 1] === a && argv[i + 2] === b);
  assert.notEqual(index, -1, `${flag} ${a} ${b} missing from ${JSON.stringify(argv)}`);
  return index;
}

describe("bwrapArgs", () => {
  test("starts with the namespaces and the sandbox's host name, uid/gid 1000", () => {
    const argv = bwrapArgs(sandboxSpec(), hostLayout);
    assert.deepEqual(argv.slice(0, 12), [
      "--die-with-parent",
      "--unshare-user",
      "--uid", "1000",
      "--gid", "1000",
      "--unshare-pid",
      "--unshare-ipc",
      "--unshare-uts",
      "--unshare-cgroup-try",
      "--hostname", "wt-feature-x",
    ]);
  });

  test("a network namespace of its own unless the spec says host (outbound is pasta's, attached later)", () => {
    assert.ok(!bwrapArgs(sandboxSpec({ network: "host" }), hostLayout).includes("--unshare-net"));
    for (const network of [true, false]) {
      const argv = bwrapArgs(sandboxSpec({ network }), hostLayout);
      assert.equal(argv.filter((word) => word === "--unshare-net").length, 1, `network ${String(network)}`);
    }
  });

  test("binds the host system read-only, then passwd/group over /etc, then home and the worktree", () => {
    const argv = bwrapArgs(sandboxSpec(), hostLayout);
    const usr = indexOfTriple(argv, "--ro-bind", "/usr", "/usr");
    const etc = indexOfTriple(argv, "--ro-bind", "/etc", HOST_ETC);
    assert.equal(argv[etc + 3], "--dir");
    assert.equal(argv[etc + 4], "/etc", "/etc is bwrap's own folder, not a bind of the host's");
    const passwd = indexOfTriple(argv, "--ro-bind", hostLayout.passwdFile, "/etc/passwd");
    const group = indexOfTriple(argv, "--ro-bind", hostLayout.groupFile, "/etc/group");
    const home = indexOfTriple(argv, "--bind", hostLayout.homeDir, "/home/heyo");
    const workspace = indexOfTriple(argv, "--bind", "/home/dev/repo-worktrees/feature-x", "/workspace");
    assert.ok(usr < passwd && etc < passwd && etc < group, "passwd/group must come after /etc or /etc hides them");
    assert.ok(passwd < home && home < workspace);
    indexOfTriple(argv, "--proc", "/proc", "--dev");
    indexOfTriple(argv, "--dev", "/dev", "--tmpfs");
    assert.equal(argv[argv.indexOf("--tmpfs") + 1], "/tmp");
  });

  test("/etc: a link per host entry into the host's /etc bound whole (host links as they are), none for the names heyvm provides", async () => {
    await withTempDir((dir) => {
      writeFileSync(join(dir, "passwd"), "root:x:0:0::/root:/bin/sh\n");
      writeFileSync(join(dir, "hosts"), "127.0.0.1 localhost\n");
      mkdirSync(join(dir, "ssl"));
      symlinkSync("../proc/self/mounts", join(dir, "mtab"));
      assert.deepEqual(hostEtcArgs(new Set(["passwd"]), dir), [
        "--ro-bind", dir, HOST_ETC, "--dir", "/etc",
        "--symlink", `${HOST_ETC}/hosts`, "/etc/hosts",
        "--symlink", "../proc/self/mounts", "/etc/mtab",
        "--symlink", `${HOST_ETC}/ssl`, "/etc/ssl",
      ]);
    });
    const argv = bwrapArgs(sandboxSpec(), { ...hostLayout, resolvConf: { file: "/state/resolv.conf", path: "/etc/resolv.conf" } });
    const links = pairsAfter(argv, "--symlink").map(([, path]) => path);
    for (const provided of ["/etc/passwd", "/etc/group", "/etc/resolv.conf"]) assert.ok(!links.includes(provided), `${provided} is heyvm's, bound on bwrap's own folder`);
  });

  test("binds the host's top-level system folders as they are on this host: symlink, folder or absent", () => {
    const argv = bwrapArgs(sandboxSpec(), hostLayout);
    const symlinks = pairsAfter(argv, "--symlink");
    const roBinds = pairsAfter(argv, "--ro-bind");
    for (const path of ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]) {
      let kind: "symlink" | "dir" | "absent" | "other" = "absent";
      try {
        const stat = lstatSync(path);
        kind = stat.isSymbolicLink() ? "symlink" : stat.isDirectory() ? "dir" : "other";
      } catch {
        kind = "absent";
      }
      const asSymlink = symlinks.some(([, to]) => to === path);
      const asBind = roBinds.some(([from, to]) => from === path && to === path);
      if (kind === "symlink") {
        assert.ok(symlinks.some(([target, to]) => to === path && target === readlinkSync(path)), `${path} as --symlink ${readlinkSync(path)}`);
        assert.ok(!asBind, `${path} is a symlink and must not be bound`);
      } else if (kind === "dir") {
        assert.ok(asBind && !asSymlink, `${path} as --ro-bind`);
      } else {
        assert.ok(!asBind && !asSymlink, `${path} (${kind}) must not appear`);
      }
    }
  });

  test("extra mounts follow the worktree, read-only ones as --ro-bind, in the spec's order", () => {
    const spec = sandboxSpec({
      mounts: [
        { host: "/home/dev/repo/.git", guest: "/home/dev/repo/.git", readOnly: false },
        { host: "/opt/cache", guest: "/cache", readOnly: true },
      ],
    });
    const argv = bwrapArgs(spec, hostLayout);
    const workspace = indexOfTriple(argv, "--bind", spec.workspace, "/workspace");
    const git = indexOfTriple(argv, "--bind", "/home/dev/repo/.git", "/home/dev/repo/.git");
    const cache = indexOfTriple(argv, "--ro-bind", "/opt/cache", "/cache");
    assert.ok(workspace < git && git < cache);
    assert.ok(!pairsAfter(argv, "--bind").some(([from]) => from === "/opt/cache"), "a read-only mount is never bound writable");
  });

  test("ends by making / read-only and starting in /workspace", () => {
    const spec = sandboxSpec({ mounts: [{ host: "/opt/a", guest: "/a", readOnly: false }] });
    const argv = bwrapArgs(spec, hostLayout);
    assert.deepEqual(argv.slice(-4), ["--remount-ro", "/", "--chdir", "/workspace"]);
  });

  test("with an image, binds each of the image's top-level entries except the ones bwrap provides", async () => {
    await withTempDir((root) => {
      for (const name of ["usr", "etc", "opt", "proc", "dev", "tmp", "sys", "run", "home", "workspace"]) mkdirSync(join(root, name));
      symlinkSync("usr/bin", join(root, "bin"));
      symlinkSync("usr/lib", join(root, "lib"));
      const argv = bwrapArgs(sandboxSpec({ image: "ubuntu:24.04" }), { ...hostLayout, imageRoot: root });
      const roBinds = pairsAfter(argv, "--ro-bind");
      const imageBinds = roBinds.filter(([from]) => from.startsWith(`${root}/`)).sort(([a], [b]) => (a < b ? -1 : 1));
      assert.deepEqual(imageBinds, [
        [join(root, "etc"), "/etc"],
        [join(root, "opt"), "/opt"],
        [join(root, "usr"), "/usr"],
      ]);
      const symlinks = pairsAfter(argv, "--symlink").sort(([, a], [, b]) => (a < b ? -1 : 1));
      assert.deepEqual(symlinks, [
        ["usr/bin", "/bin"],
        ["usr/lib", "/lib"],
      ]);
      assert.ok(!roBinds.some(([from]) => from === "/usr" || from === "/etc"), "the host system is not used with an image");
      indexOfTriple(argv, "--ro-bind", hostLayout.passwdFile, "/etc/passwd");
      assert.ok(argv.indexOf(join(root, "etc")) < argv.indexOf(hostLayout.passwdFile), "passwd goes over the image's /etc");
    });
  });
});

describe("sandboxAccounts", () => {
  const hostPasswd = [
    "root:x:0:0:root:/root:/bin/bash",
    "alice:x:1000:1000:Alice:/home/alice:/bin/zsh",
    "heyo:x:1234:1234::/home/heyo:/bin/sh",
    "",
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
    "",
  ].join("\n");
  const hostGroup = ["root:x:0:", "alice:x:1000:", "heyo:x:1234:", "users:x:100:alice", ""].join("\n");

  test("keeps the system's entries, drops whatever held uid/gid 1000 or the name heyo, and adds heyo", () => {
    const { passwd, group } = sandboxAccounts(hostPasswd, hostGroup, "/bin/bash");
    assert.equal(
      passwd,
      "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nheyo:x:1000:1000:heyo:/home/heyo:/bin/bash\n",
    );
    assert.equal(group, "root:x:0:\nusers:x:100:alice\nheyo:x:1000:\n");
  });

  test("uses the given shell and works from empty files", () => {
    const { passwd, group } = sandboxAccounts("", "", "/bin/sh");
    assert.equal(passwd, "heyo:x:1000:1000:heyo:/home/heyo:/bin/sh\n");
    assert.equal(group, "heyo:x:1000:\n");
  });
});
