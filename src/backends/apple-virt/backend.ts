// Apple's Virtualization.framework through vfkit, for macOS. Not driven by heyvm yet; the probe
// says what is missing so the default choice and `--backend apple_virt` fail with a clear reason.
import { findSystemExecutable } from "../../shared/run.js";
import type { ProbeOnlyBackend, Unavailability } from "../types.js";

const CANNOT_RUN = { reason: "heyvm cannot drive vfkit yet", hint: "run heyvm on Linux for now" };

async function probe(): Promise<Unavailability> {
  if (process.platform !== "darwin") return { usable: false, reason: "apple_virt needs macOS", hint: "on Linux use --backend libvirt or --backend bubblewrap" };
  if (!findSystemExecutable("vfkit")) return { usable: false, reason: "vfkit is not installed", hint: "install it with `brew install vfkit`" };
  return { usable: false, ...CANNOT_RUN };
}

export const appleVirtBackend: ProbeOnlyBackend = { name: "apple_virt", probe, cannotRun: CANNOT_RUN };
