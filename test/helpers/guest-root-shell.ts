// A way to root inside a VM guest for tests: a setuid-root shell written into a test's own copy
// of a default VM image (standing for any way to root inside a guest: its kernel is the guest's
// own business), the image's checksum updated so heyvm still accepts it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { lstatSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ROOT_SHELL_C = `#include <unistd.h>
int main(int argc, char **argv) { (void)argc; if (setgid(0) || setuid(0)) return 126; execv("/bin/sh", argv); return 127; }
`;
export const GUEST_ROOT_SHELL = "/usr/local/bin/heyvm-test-rootsh";

/**
 * Puts a setuid-root shell into the test's own default VM image (standing for any way to root
 * inside a guest: its kernel is the guest's own business) and records the image's new checksum.
 */
export function plantGuestRootShell(imageDir: string, scratch: string): void {
  const source = join(scratch, "rootsh.c");
  const binary = join(scratch, "rootsh");
  const raw = join(scratch, "rootfs.raw");
  writeFileSync(source, ROOT_SHELL_C);
  const step = (file: string, ...args: string[]) => {
    const ran = spawnSync(file, args, { encoding: "utf8" });
    assert.equal(ran.status, 0, `${file} ${args.join(" ")}: ${ran.stderr}`);
  };
  step("gcc", "-static", "-O2", "-o", binary, source);
  const manifestPath = join(imageDir, "image.json");
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { files: { rootfs: string }; checksums: Record<string, string> };
  const rootfs = join(imageDir, manifest.files.rootfs);
  const qcow2 = rootfs.endsWith(".qcow2");
  const owner = lstatSync(rootfs);
  if (qcow2) step("qemu-img", "convert", "-O", "raw", rootfs, raw);
  const disk = qcow2 ? raw : rootfs;
  step("debugfs", "-w", "-R", `write ${binary} ${GUEST_ROOT_SHELL}`, disk);
  for (const field of ["mode 0104755", "uid 0", "gid 0"]) step("debugfs", "-w", "-R", `sif ${GUEST_ROOT_SHELL} ${field}`, disk);
  if (qcow2) step("qemu-img", "convert", "-O", "qcow2", raw, rootfs);
  spawnSync("chown", [`${owner.uid}:${owner.gid}`, rootfs]);
  rmSync(raw, { force: true });
  manifest.checksums.rootfs = spawnSync("sha256sum", [rootfs], { encoding: "utf8" }).stdout.split(" ")[0] ?? "";
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
  rmSync(join(imageDir, ".verified.json"), { force: true });
}
