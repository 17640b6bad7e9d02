// Signed upload URLs: a signature binds the archive id and the expiry, and the secret is made
// once and kept.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkUploadSignature, loadOrCreateSecret, signUpload } from "../../../src/server/archives/signing.js";
import { withTempDir } from "../helpers/fixtures.js";

const secret = Buffer.alloc(32, 0x5a);
const now = 1_750_000_000;

function check(query: string, archiveId = "arc-1", key = secret, at = now) {
  return checkUploadSignature(key, archiveId, new URLSearchParams(query), at);
}

describe("upload signatures", () => {
  test("a URL signed for an archive is accepted until it expires", () => {
    const query = signUpload(secret, "arc-1", now + 600);
    assert.match(query, /^expires=1750000600&sig=[0-9a-f]{64}$/);
    assert.deepEqual(check(query), { ok: true });
    assert.deepEqual(check(query, "arc-1", secret, now + 600), { ok: true }, "valid at the expiry second itself");
  });

  test("expired URLs are refused", () => {
    assert.deepEqual(check(signUpload(secret, "arc-1", now - 1)), { ok: false, reason: "the upload URL has expired; ask for a new one" });
  });

  test("another archive, another secret or a moved expiry breaks the signature", () => {
    const query = signUpload(secret, "arc-1", now + 600);
    const wrong = { ok: false, reason: "the upload URL's signature is wrong" };
    assert.deepEqual(check(query, "arc-2"), wrong);
    assert.deepEqual(check(query, "arc-1", Buffer.alloc(32, 0x5b)), wrong);
    assert.deepEqual(check(query.replace("expires=1750000600", "expires=1750099999")), wrong);
  });

  test("missing or malformed parameters are 'not signed'", () => {
    const unsigned = { ok: false, reason: "the upload URL is not signed" };
    const sig = "a".repeat(64);
    for (const query of ["", `expires=${now + 60}`, `expires=soon&sig=${sig}`, `expires=${now + 60}&sig=${"A".repeat(64)}`, `expires=${now + 60}&sig=abc`, `expires=1.5&sig=${sig}`]) {
      assert.deepEqual(check(query), unsigned, query);
    }
    assert.equal(check(`sig=${sig}`).ok, false, "no expiry at all is refused too");
  });

  test("the same input gives the same signature (the URL can be reissued)", () => {
    assert.equal(signUpload(secret, "arc-1", now), signUpload(secret, "arc-1", now));
    assert.notEqual(signUpload(secret, "arc-1", now), signUpload(secret, "arc-1", now + 1));
  });
});

describe("loadOrCreateSecret", () => {
  test("creates a 32-byte secret readable by the owner only, then reads the same one back", () =>
    withTempDir((dir) => {
      const path = join(dir, "upload-secret");
      const created = loadOrCreateSecret(path);
      assert.equal(created.length, 32);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.equal(readFileSync(path, "utf8"), `${created.toString("hex")}\n`);
      assert.deepEqual(loadOrCreateSecret(path), created);
    }));

  test("reads a secret that is already there", () =>
    withTempDir((dir) => {
      const path = join(dir, "upload-secret");
      writeFileSync(path, `${"ab".repeat(32)}\n`);
      assert.deepEqual(loadOrCreateSecret(path), Buffer.alloc(32, 0xab));
    }));
});
