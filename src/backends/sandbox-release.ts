// What a removed sandbox gives back on the host: the ACL entries heyvm gave its own uid (on the
// workspace, the git folder and the folders above them), the files it made there (to the tree's
// owner), and its slot of host ids. Run after the sandbox has stopped, before its folder goes.
import { existsSync } from "node:fs";
import type { SandboxSpec } from "../state/records.js";
import type { SandboxDir } from "../state/sandbox-dir.js";
import { revokeSandboxAccess } from "./bubblewrap/host-user.js";
import { heldHostUser, releaseHostIds } from "./host-ids.js";

export async function releaseSandboxHost(dir: SandboxDir, spec: SandboxSpec): Promise<void> {
  const user = heldHostUser(dir);
  if (user) {
    const trees = [spec.workspace, ...spec.mounts.filter((mount) => !mount.readOnly).map((mount) => mount.host)];
    const others = [...spec.mounts.filter((mount) => mount.readOnly).map((mount) => mount.host), dir.root];
    await revokeSandboxAccess(user, trees.filter((path) => existsSync(path)), others.filter((path) => existsSync(path)));
  }
  releaseHostIds(dir);
}
