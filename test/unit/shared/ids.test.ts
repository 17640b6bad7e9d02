// Which ids go to the cloud: dep-<letters and digits>, nothing else.
import { test } from "node:test";
import assert from "node:assert/strict";
import { isCloudId } from "../../../src/shared/ids.js";

test("dep-<alphanumerics> is a cloud id, in any case", () => {
  for (const id of ["dep-abc123", "dep-0", "DEP-ABC", "dep-Mixed9"]) assert.equal(isCloudId(id), true, id);
});

test("local ids, names, branches and near misses are not cloud ids", () => {
  for (const query of ["sb-0123abcd", "wt-dep-abc", "dep-", "dep", "dep-ab_c", "dep-ab-c", "dep-abc ", " dep-abc", "xdep-abc", "dep-abc/x", "feature/dep-1", ""]) {
    assert.equal(isCloudId(query), false, JSON.stringify(query));
  }
});
