// Making sure a VM backend's image is there and sound before a boot, the one way libvirt and
// firecracker both need: under the image's lock, the default image is built on first use and
// rebuilt when verification finds it damaged; a named image that is missing or damaged is the
// user's to rebuild (heyvm never overwrites what they built).
import { existsSync } from "node:fs";
import { UnavailableError } from "../../shared/errors.js";
import type { HeyoHome } from "../../state/home.js";
import type { Reporter } from "../../shared/reporter.js";
import { DEFAULT_IMAGE, imageDir } from "../store.js";

export type VmImageBackend = "libvirt" | "firecracker";

/** Builds the backend's default image into a folder (replacing nothing on failure). */
export type DefaultImageBuilder = (home: HeyoHome, target: string, reporter: Reporter) => Promise<unknown>;

export async function prepareVmImage(home: HeyoHome, backend: VmImageBackend, image: string | null, buildDefault: DefaultImageBuilder, reporter: Reporter): Promise<void> {
  const [{ withLock }, { CorruptImageError, verifyVmImage }] = await Promise.all([import("../../state/lock.js"), import("./verify.js")]);
  const name = image ?? DEFAULT_IMAGE;
  const dir = imageDir(home, backend, name);
  await withLock(home, `image:${backend}:${name}`, 30 * 60_000, async () => {
    if (!existsSync(dir)) {
      if (name !== DEFAULT_IMAGE) throw new UnavailableError(`there is no ${backend} image named "${name}"`, "see `heyvm images list`; leave out --image to use the default image");
      await buildDefault(home, dir, reporter);
    }
    try {
      await verifyVmImage(dir, name);
    } catch (error) {
      if (!(error instanceof CorruptImageError) || name !== DEFAULT_IMAGE) throw error;
      reporter.info(`${error.message}; rebuilding the default image`);
      await buildDefault(home, dir, reporter);
      await verifyVmImage(dir, name);
    }
  });
}
