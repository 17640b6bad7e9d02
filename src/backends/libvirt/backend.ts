// Placeholder replaced by the libvirt backend (issue 3): until then it reports itself unusable.
import { UnavailableError } from "../../shared/errors.js";
import type { Backend } from "../types.js";

function unavailable(): never {
  throw new UnavailableError("the libvirt backend is not built yet", "use --backend bubblewrap");
}

export const libvirtBackend: Backend = {
  name: "libvirt",
  features: { workspace: "virtiofs-or-9p", virtualMachine: true, images: true, networkIsolation: true, ssh: true },
  probe: async () => ({ usable: false, reason: "the libvirt backend is not built yet", hint: "use --backend bubblewrap" }),
  boot: async () => unavailable(),
  shellCommand: () => unavailable(),
  execCommand: () => unavailable(),
};
