// Apple's Virtualization.framework through vfkit, for macOS. Not driven by heyvm yet; the probe
// says what is missing so the default choice and `--backend apple_virt` fail with a clear reason.
import { UnavailableError } from "../../shared/errors.js";
import { findSystemExecutable } from "../../shared/run.js";
import type { Availability, Backend } from "../types.js";

const NOT_BUILT = "heyvm cannot drive vfkit yet";

async function probe(): Promise<Availability> {
  if (process.platform !== "darwin") return { usable: false, reason: "apple_virt needs macOS", hint: "on Linux use --backend libvirt or --backend bubblewrap" };
  if (!findSystemExecutable("vfkit")) return { usable: false, reason: "vfkit is not installed", hint: "install it with `brew install vfkit`" };
  return { usable: false, reason: NOT_BUILT, hint: "run heyvm on Linux for now" };
}

function unavailable(): never {
  throw new UnavailableError(NOT_BUILT, "run heyvm on Linux for now");
}

export const appleVirtBackend: Backend = {
  name: "apple_virt",
  features: { workspace: "virtiofs", virtualMachine: true, images: true, networkIsolation: true, ssh: true },
  probe,
  boot: async () => unavailable(),
  shellCommand: () => unavailable(),
  execCommand: () => unavailable(),
};
