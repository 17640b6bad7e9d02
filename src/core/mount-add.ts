// `heyvm mount-add`: a host folder added to a sandbox's mounts (sandbox.json). No backend can
// add one to a sandbox while it runs (a bubblewrap sandbox's mount namespace takes no new bind
// from outside; a VM's shares are fixed when virtiofsd starts), so it takes effect at the
// sandbox's next start, and the answer says so.
import type { HeyoHome } from "../state/home.js";
import { UserError } from "../shared/errors.js";
import { isCloudId } from "../shared/ids.js";
import { sandboxStatus } from "../state/status.js";
import type { SandboxEntry } from "../state/records.js";
import { resolveSandbox } from "./catalog.js";
import { checkHostPath, checkNoOverlap, checkSandboxPath, makeMountPoint } from "./mount-rules.js";
import { updateSpec } from "./spec-update.js";

export interface MountAddRequest {
  hostPath: string;
  sandboxPath: string;
  readOnly: boolean;
}

export interface MountAddResult {
  id: string;
  host_path: string;
  sandbox_path: string;
  read_only: boolean;
  running: boolean;
  applied: "now" | "next-start";
}

/** Adds the mount to an entry's record once its paths pass mount-rules.ts. */
export async function addMountTo(home: HeyoHome, entry: SandboxEntry, request: MountAddRequest): Promise<MountAddResult> {
  const guest = checkSandboxPath(request.sandboxPath, entry.spec.backend !== "bubblewrap");
  const host = checkHostPath(home, request.hostPath, entry.spec);
  const mount = { host, guest, readOnly: request.readOnly };
  await updateSpec(home, entry, (spec) => {
    checkNoOverlap(spec, mount);
    makeMountPoint(spec, guest);
    return { ...spec, mounts: [...spec.mounts, mount] };
  });
  const running = (await sandboxStatus(entry.dir)).status !== "stopped";
  return { id: entry.spec.id, host_path: host, sandbox_path: guest, read_only: request.readOnly, running, applied: "next-start" };
}

export function addMount(home: HeyoHome, query: string, request: MountAddRequest): Promise<MountAddResult> {
  if (isCloudId(query)) throw new UserError(`mount-add adds a folder of this machine, and ${query} is a cloud sandbox`, { hint: "upload the folder with `heyvm archive` and `heyvm update`" });
  return addMountTo(home, resolveSandbox(home, query), request);
}
