// Firecracker microVMs. heyvm does not drive Firecracker yet: Firecracker has no shared
// filesystem, so /workspace needs a sync or block-device design of its own (ARCHITECTURE.md §4). The
// probe still says precisely what a host lacks, so `--backend firecracker` fails helpfully and
// the default order can skip it.
import { findSystemExecutable } from "../../shared/run.js";
import { kvmStatus } from "../kvm.js";
import type { ProbeOnlyBackend, Unavailability } from "../types.js";

const CANNOT_RUN = { reason: "heyvm cannot drive Firecracker yet (no /workspace sharing design for it)", hint: "use --backend libvirt or --backend bubblewrap" };

async function probe(): Promise<Unavailability> {
  if (process.platform !== "linux") return { usable: false, reason: "Firecracker needs Linux with KVM", hint: "use apple_virt on macOS" };
  if (!findSystemExecutable("firecracker")) {
    return { usable: false, reason: "the firecracker binary is not on PATH", hint: "install Firecracker, or use --backend libvirt or --backend bubblewrap" };
  }
  const kvm = kvmStatus();
  if (!kvm.usable) return { usable: false, reason: kvm.reason, hint: "Firecracker needs working KVM; use --backend libvirt (falls back to software emulation) or --backend bubblewrap" };
  return { usable: false, ...CANNOT_RUN };
}

export const firecrackerBackend: ProbeOnlyBackend = { name: "firecracker", probe, cannotRun: CANNOT_RUN };
