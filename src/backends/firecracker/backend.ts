// Firecracker microVMs. heyvm does not drive Firecracker yet: Firecracker has no shared
// filesystem, so /workspace needs a sync or block-device design of its own (DESIGN §5). The
// probe still says precisely what a host lacks, so `--backend firecracker` fails helpfully and
// the default order can skip it.
import { UnavailableError } from "../../shared/errors.js";
import { findSystemExecutable } from "../../shared/run.js";
import { kvmStatus } from "../kvm.js";
import type { Availability, Backend } from "../types.js";

const NOT_BUILT = "heyvm cannot drive Firecracker yet (no /workspace sharing design for it)";

async function probe(): Promise<Availability> {
  if (process.platform !== "linux") return { usable: false, reason: "Firecracker needs Linux with KVM", hint: "use apple_virt on macOS" };
  if (!findSystemExecutable("firecracker")) {
    return { usable: false, reason: "the firecracker binary is not on PATH", hint: "install Firecracker, or use --backend libvirt or --backend bubblewrap" };
  }
  const kvm = kvmStatus();
  if (!kvm.usable) return { usable: false, reason: kvm.reason, hint: "Firecracker needs working KVM; use --backend libvirt (falls back to software emulation) or --backend bubblewrap" };
  return { usable: false, reason: NOT_BUILT, hint: "use --backend libvirt or --backend bubblewrap" };
}

function unavailable(): never {
  throw new UnavailableError(NOT_BUILT, "use --backend libvirt or --backend bubblewrap");
}

export const firecrackerBackend: Backend = {
  name: "firecracker",
  features: { workspace: "sync", virtualMachine: true, images: true, networkIsolation: true, ssh: true },
  probe,
  boot: async () => unavailable(),
  shellCommand: () => unavailable(),
  execCommand: () => unavailable(),
};
