// The streaming archive reader and its rules: tar formats (ustar, GNU long names, pax), the end
// marker that stops reading, exact bounds on entries and unpacked size, links checked against
// the final tree whatever the order, and an unpacked tree that matches what tar itself makes.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { create } from "tar";
import { ArchiveRejectedError, checkArchive, extractArchive } from "../../../src/server/archives/extract.js";
import { TarReader, type TarHeader } from "../../../src/server/archives/tar-reader.js";
import { makeTarGz } from "../../helpers/cloud-tar.js";
import { manyEntries, tarHeader, zeroFileBomb, zeroFilesBomb } from "../../helpers/tar-bomb.js";
import { withTempDir } from "../helpers/fixtures.js";

const LIMITS = { maxBytes: 64 * 1024 * 1024, maxEntries: 10_000 };

function read(bytes: Buffer, chunk = 700): { headers: TarHeader[]; data: Map<string, string>; fed: number } {
  const headers: TarHeader[] = [];
  const data = new Map<string, string>();
  let current = "";
  const reader = new TarReader({
    entry: (header) => {
      headers.push(header);
      current = header.path;
      data.set(current, "");
    },
    data: (part) => data.set(current, (data.get(current) ?? "") + part.toString("utf8")),
    entryEnd: () => undefined,
  });
  let fed = 0;
  for (let at = 0; at < bytes.length; at += chunk) {
    fed = Math.min(at + chunk, bytes.length);
    if (!reader.write(bytes.subarray(at, at + chunk))) break;
  }
  reader.end();
  return { headers, data, fed };
}

const hasTar = spawnSync("tar", ["--version"]).status === 0 ? false : "no tar command";

describe("tar reader", () => {
  test("reads entries and their data across any chunk boundaries", () => {
    const tar = Buffer.concat([tarHeader("workspace/a.txt", 5), Buffer.from("hello"), Buffer.alloc(507), tarHeader("workspace/d", 0, "5"), Buffer.alloc(1024)]);
    for (const chunk of [1, 7, 511, 512, 513, 4096]) {
      const { headers, data } = read(tar, chunk);
      assert.deepEqual(headers.map((h) => [h.path, h.type, h.size]), [["workspace/a.txt", "File", 5], ["workspace/d", "Directory", 0]]);
      assert.equal(data.get("workspace/a.txt"), "hello");
    }
  });

  test("stops at the end marker: what follows it is never read", () => {
    const tar = Buffer.concat([tarHeader("workspace/a", 0), Buffer.alloc(1024), Buffer.alloc(10 * 1024 * 1024)]);
    const { headers, fed } = read(tar, 512);
    assert.equal(headers.length, 1);
    assert.equal(fed, 1536, "reading ended right after the two zero blocks");
  });

  test("refuses bytes that are not tar, and an archive cut short", () => {
    assert.throws(() => read(Buffer.alloc(512, 0x41)), /checksum/);
    assert.throws(() => read(Buffer.concat([tarHeader("workspace/a", 4096), Buffer.alloc(100)])), /cut short in the middle of an entry/);
  });

  test("GNU long names and pax paths, as tar writes them", { skip: hasTar }, async () => {
    await withTempDir(async (dir) => {
      const long = `workspace/${"d".repeat(120)}/${"f".repeat(150)}.txt`;
      mkdirSync(join(dir, long, ".."), { recursive: true });
      writeFileSync(join(dir, long), "deep\n");
      for (const format of ["gnu", "pax"]) {
        const result = spawnSync("tar", [`--format=${format}`, "-cf", "-", "-C", dir, long], { maxBuffer: 1 << 24 });
        assert.equal(result.status, 0, String(result.stderr));
        const { headers, data } = read(result.stdout);
        assert.deepEqual(headers.map((h) => h.path), [long], format);
        assert.equal(data.get(long), "deep\n");
      }
    });
  });
});

describe("archive rules and unpacking", () => {
  test("a link chain is refused whatever the order of its links (the final tree counts)", async () => {
    await withTempDir(async (dir) => {
      const file = join(dir, "chain.tar.gz");
      // the order: the link that x walks through comes after x
      writeFileSync(file, makeTarGz([
        { path: "workspace/d1/d2/", type: "dir" },
        { path: "workspace/x", type: "symlink", linkpath: "d1/d2/up/.." },
        { path: "workspace/d1/d2/up", type: "symlink", linkpath: "../.." },
      ]));
      await assert.rejects(checkArchive(file, LIMITS), /points through the symbolic link d1\/d2\/up/);
      const dest = join(dir, "ws");
      await assert.rejects(extractArchive(file, dest, LIMITS), ArchiveRejectedError);
      assert.deepEqual(readdirSync(dest), [], "nothing of it is left");
    });
  });

  test("links that resolve inside are made last, after the files they point at", async () => {
    await withTempDir(async (dir) => {
      const file = join(dir, "ok.tar.gz");
      writeFileSync(file, makeTarGz([
        { path: "workspace/link-first", type: "symlink", linkpath: "sub/real.txt" },
        { path: "workspace/sub/real.txt", content: "real\n" },
        { path: "workspace/hard", type: "hardlink", linkpath: "workspace/sub/real.txt" },
        { path: "workspace/sub/real.txt", content: "second copy wins\n" },
      ]));
      assert.equal(await checkArchive(file, LIMITS), 4);
      const dest = join(dir, "ws");
      await extractArchive(file, dest, LIMITS);
      assert.equal(readlinkSync(join(dest, "link-first")), "sub/real.txt");
      assert.equal(readFileSync(join(dest, "link-first"), "utf8"), "second copy wins\n");
      assert.equal(readFileSync(join(dest, "hard"), "utf8"), "real\n", "the hard link keeps the first file");
    });
  });

  test("a link may not take the place of a folder or file, nor an entry the place of a link", async () => {
    await withTempDir(async (dir) => {
      const file = join(dir, "swap.tar.gz");
      const cases: Array<[Parameters<typeof makeTarGz>[0], RegExp]> = [
        [[{ path: "workspace/a/b.txt", content: "x" }, { path: "workspace/a", type: "symlink", linkpath: "." }], /replaces a file or folder/],
        [[{ path: "workspace/l", type: "symlink", linkpath: "." }, { path: "workspace/l", content: "x" }], /replaces the symbolic link/],
        [[{ path: "workspace/f", content: "x" }, { path: "workspace/f/g", content: "y" }], /which the archive made a file/],
        [[{ path: "workspace", type: "symlink", linkpath: "sub" }], /must be a folder/],
      ];
      for (const [entries, why] of cases) {
        writeFileSync(file, makeTarGz(entries));
        await assert.rejects(checkArchive(file, LIMITS), why);
      }
    });
  });

  test("entry count and unpacked size are bounded, counted from the headers", async () => {
    await withTempDir(async (dir) => {
      const file = join(dir, "bomb.tar.gz");
      writeFileSync(file, manyEntries(200));
      await assert.rejects(checkArchive(file, { maxBytes: 1 << 20, maxEntries: 100 }), /more than 100 entries/);
      writeFileSync(file, zeroFileBomb(1)); // 1 GiB declared in the first header
      await assert.rejects(checkArchive(file, LIMITS), /unpacks to more than 67108864 bytes/);
      const dest = join(dir, "ws");
      await assert.rejects(extractArchive(file, dest, LIMITS), /unpacks to more than/);
      assert.deepEqual(readdirSync(dest), []);
      writeFileSync(file, makeTarGz(Array.from({ length: 5 }, (_, i) => ({ path: `workspace/f${i}`, content: "x".repeat(300) }))));
      await assert.rejects(checkArchive(file, { maxBytes: 1000, maxEntries: 100 }), /unpacks to more than 1000 bytes/);
    });
  });

  test("an archive of honest headers that unpacks at a bomb's ratio is refused long before its size limit", async () => {
    await withTempDir(async (dir) => {
      const file = join(dir, "bomb.tar.gz");
      writeFileSync(file, zeroFilesBomb(2, 0.25)); // 512 MiB of zeros in about 0.5 MB, under the limit below
      const limits = { maxBytes: 1024 ** 3, maxEntries: 100 };
      await assert.rejects(checkArchive(file, limits), /more than 1000 times its size/);
      const dest = join(dir, "ws");
      await assert.rejects(extractArchive(file, dest, limits), /more than 1000 times its size/);
      assert.deepEqual(readdirSync(dest), []);
    });
  });

  test("the unpacked tree matches tar's own: contents, modes, times, empty folders", { skip: hasTar }, async () => {
    await withTempDir(async (dir) => {
      const src = join(dir, "src", "workspace");
      mkdirSync(join(src, "a", "b"), { recursive: true });
      mkdirSync(join(src, "empty"));
      writeFileSync(join(src, "a", "b", "tool.sh"), "#!/bin/sh\n", { mode: 0o750 });
      writeFileSync(join(src, "big.bin"), Buffer.alloc(3 * 1024 * 1024 + 17, 7));
      const file = join(dir, "real.tar.gz");
      assert.equal(spawnSync("tar", ["czf", file, "-C", join(dir, "src"), "workspace"]).status, 0);
      const dest = join(dir, "ws");
      await extractArchive(file, dest, LIMITS);
      const theirs = join(dir, "theirs");
      mkdirSync(theirs);
      assert.equal(spawnSync("tar", ["xzf", file, "-C", theirs, "--strip-components=1", "--no-same-owner"]).status, 0);
      for (const path of ["a", "a/b", "a/b/tool.sh", "big.bin", "empty"]) {
        const mine = lstatSync(join(dest, path));
        const tars = lstatSync(join(theirs, path));
        assert.equal(mine.mode, tars.mode, `${path}: mode`);
        assert.equal(Math.floor(mine.mtimeMs / 1000), Math.floor(tars.mtimeMs / 1000), `${path}: mtime`);
        if (mine.isFile()) assert.deepEqual(readFileSync(join(dest, path)), readFileSync(join(theirs, path)), `${path}: contents`);
      }
      assert.equal(existsSync(join(dest, "workspace")), false, "workspace/ is stripped");
      assert.equal(statSync(dest).isDirectory(), true);
    });
  });

  test("folders the client packs without a time (node-tar's portable mode) keep the time they are made", async () => {
    await withTempDir(async (dir) => {
      mkdirSync(join(dir, "src", "workspace", "a"), { recursive: true });
      writeFileSync(join(dir, "src", "workspace", "a", "x"), "x");
      const file = join(dir, "portable.tar.gz");
      await create({ gzip: true, file, cwd: join(dir, "src"), portable: true }, ["workspace"]);
      const before = Date.now() - 1000;
      const dest = join(dir, "ws");
      await extractArchive(file, dest, LIMITS);
      assert.ok(statSync(join(dest, "a")).mtimeMs >= before, "not 1970");
    });
  });

  test("a plain (not gzipped) tar is read too, and garbage is refused as not a tar.gz", async () => {
    await withTempDir(async (dir) => {
      const file = join(dir, "plain.tar");
      writeFileSync(file, Buffer.concat([tarHeader("workspace/a", 0), Buffer.alloc(1024)]));
      assert.equal(await checkArchive(file, LIMITS), 1);
      writeFileSync(file, Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.from("not really gzip")]));
      await assert.rejects(checkArchive(file, LIMITS), /not a readable tar\.gz/);
      writeFileSync(file, gzipSync(Buffer.from("short")));
      await assert.rejects(checkArchive(file, LIMITS), /not a readable tar\.gz/);
    });
  });
});
