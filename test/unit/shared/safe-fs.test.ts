// Files in a sandbox's folders are opened without following links: not the last name, not a
// folder on the way, not one swapped in during a walk.
import { test } from "node:test";
import assert from "node:assert/strict";
import { linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UnsafeFileError, createFileExclusive, readRegularFile, removeTree, walkTree, type TreeEntry } from "../../../src/shared/safe-fs.js";

function scratch(t: { after(fn: () => void): void }): { home: string; outside: string } {
  const root = mkdtempSync(join(tmpdir(), "heyvm-safe-fs-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const home = join(root, "home");
  const outside = join(root, "outside");
  mkdirSync(home);
  mkdirSync(outside);
  writeFileSync(join(outside, "secret"), "host secret\n");
  return { home, outside };
}

test("readRegularFile reads a plain file and says when there is none", (t) => {
  const { home } = scratch(t);
  writeFileSync(join(home, ".gitconfig"), "[user]\n\tname = a\n");
  assert.equal(readRegularFile(home, ".gitconfig")?.toString(), "[user]\n\tname = a\n");
  assert.equal(readRegularFile(home, "missing"), undefined);
  assert.equal(readRegularFile(home, "no/such/folder/file"), undefined);
});

test("readRegularFile refuses a link as the last name, a linked folder on the way, a fifo and a hard link", (t) => {
  const { home, outside } = scratch(t);
  symlinkSync(join(outside, "secret"), join(home, ".gitconfig"));
  assert.throws(() => readRegularFile(home, ".gitconfig"), UnsafeFileError);
  symlinkSync(outside, join(home, "dir"));
  assert.throws(() => readRegularFile(home, "dir/secret"), UnsafeFileError);
  execFileSync("mkfifo", [join(home, "fifo")]);
  assert.throws(() => readRegularFile(home, "fifo"), /not a regular file/);
  linkSync(join(outside, "secret"), join(home, "hard"));
  assert.throws(() => readRegularFile(home, "hard"), /other names/);
  assert.throws(() => readRegularFile(home, "../outside/secret"), UnsafeFileError);
});

test("createFileExclusive writes only where nothing is, never through a link (dangling or not)", (t) => {
  const { home, outside } = scratch(t);
  assert.equal(createFileExclusive(home, ".gitconfig", "mine\n", 0o600), true);
  assert.equal(readFileSync(join(home, ".gitconfig"), "utf8"), "mine\n");
  assert.equal(lstatSync(join(home, ".gitconfig")).mode & 0o777, 0o600);
  assert.equal(createFileExclusive(home, ".gitconfig", "again\n"), false);
  symlinkSync(join(outside, "planted"), join(home, "dangling"));
  assert.equal(createFileExclusive(home, "dangling", "x"), false);
  assert.throws(() => readFileSync(join(outside, "planted")), /ENOENT/, "nothing was created through the link");
  symlinkSync(outside, join(home, "linked"));
  assert.throws(() => createFileExclusive(home, "linked/new", "x"), UnsafeFileError);
  assert.throws(() => readFileSync(join(outside, "new")), /ENOENT/);
});

test("walkTree meets everything once, links as links, and never enters a folder swapped for a link", async (t) => {
  const { home, outside } = scratch(t);
  mkdirSync(join(home, "a/b"), { recursive: true });
  writeFileSync(join(home, "a/b/file"), "x");
  symlinkSync(outside, join(home, "a/link"));
  for (let i = 0; i < 7; i++) writeFileSync(join(home, `f${i}`), "y");
  const seen: TreeEntry[] = [];
  let batches = 0;
  await walkTree(home, 3, (entries) => {
    batches += 1;
    assert.ok(entries.length <= 3);
    for (const entry of entries) assert.ok(lstatSync(entry.handle).ino === entry.stat.ino, `${entry.path}: the handle names the entry met`);
    seen.push(...entries);
  });
  const paths = seen.map((entry) => entry.path.slice(home.length)).sort();
  assert.deepEqual(paths, ["", "/a", "/a/b", "/a/b/file", "/a/link", ...[0, 1, 2, 3, 4, 5, 6].map((i) => `/f${i}`)].sort());
  assert.ok(seen.find((entry) => entry.path.endsWith("/a/link"))?.stat.isSymbolicLink());
  assert.ok(batches >= 4);

  // the folder "a" is swapped for a link to the outside after it was listed, before it is entered
  const swapped: string[] = [];
  await walkTree(home, 1, (entries) => {
    for (const entry of entries) {
      swapped.push(entry.path.slice(home.length));
      if (entry.path === join(home, "a")) {
        renameSync(join(home, "a"), join(home, "moved"));
        symlinkSync(outside, join(home, "a"));
      }
    }
  });
  assert.ok(!swapped.some((path) => path.includes("secret")), `the outside folder was never entered: ${swapped.join(" ")}`);
});

test("removeTree removes a tree, its links as links, and never what a link points at", (t) => {
  const { home, outside } = scratch(t);
  mkdirSync(join(home, "ws/a/b"), { recursive: true });
  writeFileSync(join(home, "ws/a/b/file"), "x");
  symlinkSync(outside, join(home, "ws/a/linked-folder"));
  symlinkSync(join(outside, "secret"), join(home, "ws/a/linked-file"));
  symlinkSync(outside, join(home, "ws/top-link"));
  removeTree(join(home, "ws"), "a");
  removeTree(join(home, "ws"), "top-link");
  removeTree(join(home, "ws"), "missing");
  assert.deepEqual(readdirSync(join(home, "ws")), []);
  assert.equal(readFileSync(join(outside, "secret"), "utf8"), "host secret\n", "the outside is untouched");
  assert.throws(() => removeTree(home, "../outside"), UnsafeFileError);
});
