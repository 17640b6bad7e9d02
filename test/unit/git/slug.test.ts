// Branch names as folder and sandbox names.
import { test } from "node:test";
import assert from "node:assert/strict";
import { slugify } from "../../../src/git/slug.js";

test("lower case, runs of other characters become one dash", () => {
  assert.equal(slugify("feature/My Change"), "feature-my-change");
  assert.equal(slugify("fix//double  space"), "fix-double-space");
  assert.equal(slugify("user@host:thing"), "user-host-thing");
  assert.equal(slugify("Ünïcode-Brånch"), "n-code-br-nch");
});

test("keeps dots, underscores and digits inside the name", () => {
  assert.equal(slugify("release/v1.2.3_rc1"), "release-v1.2.3_rc1");
});

test("collapses dashes and trims leading and trailing dashes and dots", () => {
  assert.equal(slugify("a---b"), "a-b");
  assert.equal(slugify("/feature/x/"), "feature-x");
  assert.equal(slugify("..hidden."), "hidden");
  assert.equal(slugify("-.-x-.-"), "x");
});

test("branches differing only in case get the same slug", () => {
  assert.equal(slugify("Feature/X"), slugify("feature/x"));
});

test("a name of nothing but separators slugs to the empty string", () => {
  assert.equal(slugify("///"), "");
});
