// When a build reads an image's layers in place and when it exports them instead: decided from
// what the engine says of the image (its GraphDriver), who heyvm runs as, and HEYVM_IMAGE_EXPORT.
// Nothing is mounted here (test/custom-images.test.ts mounts real layers).
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { chownSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXPORT_ALWAYS, layerFolders } from "../../../src/images/custom/layers.js";

const root = mkdtempSync(join(tmpdir(), "heyvm-layers-"));
const [top, middle, bottom] = ["top", "middle", "bottom"].map((name) => {
  mkdirSync(join(root, name, "diff"), { recursive: true });
  return join(root, name, "diff");
});
const asRoot = process.getuid?.() === 0;

describe("reading an image's layers in place", () => {
  after(() => rmSync(root, { recursive: true, force: true }));

  test("overlay2 layers on this host, as root: topmost first", { skip: asRoot ? false : "not root: builds always export here" }, () => {
    assert.deepEqual(layerFolders({ Name: "overlay2", Data: { UpperDir: top, LowerDir: `${middle}:${bottom}` } }, {}), { layers: [top, middle, bottom] });
    assert.deepEqual(layerFolders({ Name: "overlay", Data: { UpperDir: top } }, {}), { layers: [top] }, "Podman's driver; one layer");
  });

  test("otherwise it says why, and the build exports", () => {
    const why = (driver: Parameters<typeof layerFolders>[0], env: NodeJS.ProcessEnv = {}): string => {
      const answer = layerFolders(driver, env);
      assert.ok("unavailable" in answer, JSON.stringify(answer));
      return answer.unavailable;
    };
    const good = { Name: "overlay2", Data: { UpperDir: top, LowerDir: `${middle}:${bottom}` } };
    assert.equal(why(good, { [EXPORT_ALWAYS]: "1" }), "HEYVM_IMAGE_EXPORT=1");
    if (!asRoot) {
      assert.equal(why(good), "heyvm is not root");
      return;
    }
    assert.match(why({ Name: "btrfs", Data: {} }), /the btrfs driver/);
    assert.match(why({}), /an unknown driver/);
    assert.match(why({ Name: "overlay2", Data: { LowerDir: bottom } }), /does not say where/);
    assert.match(why({ Name: "overlay2", Data: { UpperDir: 7 } }), /does not say where/);
    assert.match(why({ Name: "overlay2", Data: { UpperDir: join(root, "elsewhere") } }), /not on this host/, "a remote engine's paths");
    assert.match(why({ Name: "overlay2", Data: { UpperDir: "relative/diff" } }), /not on this host/);
    const remapped = join(root, "remapped", "diff");
    mkdirSync(remapped, { recursive: true });
    chownSync(remapped, 100000, 100000);
    assert.match(why({ Name: "overlay2", Data: { UpperDir: top, LowerDir: remapped } }), /owners shifted/, "userns-remap: the bottom layer's root is not root");
    const many = Array.from({ length: 120 }, () => top).join(":");
    assert.match(why({ Name: "overlay2", Data: { UpperDir: top, LowerDir: many } }), /too many layers \(121\)/);
  });
});
