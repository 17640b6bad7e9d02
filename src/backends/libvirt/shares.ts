// What a VM sandbox's virtiofsd daemons serve: /workspace and at most one further share (the
// guest contract mounts tag 'gitdir' at $HEYVM_GITDIR). A mount that lies inside another one
// (the host's objects inside the git store, heyvm's `.git` file inside /workspace) is not a
// share of its own: it is bound into that share's folder in its virtiofsd's own mount
// namespace (virtiofsd.ts), so what is read-only holds on the host side, whatever the guest's
// root does inside.
import { join, relative } from "node:path";
import type { ExtraMount, SandboxSpec } from "../../state/records.js";
import type { ShareBind } from "./virtiofsd.js";

export interface SharePlan {
  source: string;
  tag: string;
  binds: ShareBind[];
  /** The name guard (../nameguard.ts) stands in front of this share: /workspace. */
  nameguard: boolean;
}

const WORKSPACE = "/workspace";

function isUnder(path: string, parent: string): boolean {
  return path.startsWith(`${parent}/`);
}

/** The one mount the guest mounts as its own share (tag 'gitdir'): outside /workspace, inside no other mount. */
export function gitDirShare(spec: SandboxSpec): ExtraMount | undefined {
  return spec.mounts.find((mount) => mount.guest !== WORKSPACE && !isUnder(mount.guest, WORKSPACE) && !spec.mounts.some((other) => other !== mount && isUnder(mount.guest, other.guest)));
}

/** The binds into a share whose guest path is `guest` and host folder `source`, outermost first. */
function bindsInto(spec: SandboxSpec, guest: string, source: string): ShareBind[] {
  return spec.mounts
    .filter((mount) => isUnder(mount.guest, guest))
    .sort((a, b) => a.guest.split("/").length - b.guest.split("/").length)
    .map((mount) => ({ host: mount.host, target: join(source, relative(guest, mount.guest)), readOnly: mount.readOnly }));
}

/** The shares of a sandbox, each with what is bound into it. */
export function planShares(spec: SandboxSpec): SharePlan[] {
  const gitDir = gitDirShare(spec);
  return [
    { source: spec.workspace, tag: "workspace", binds: bindsInto(spec, WORKSPACE, spec.workspace), nameguard: true },
    ...(gitDir ? [{ source: gitDir.host, tag: "gitdir", binds: bindsInto(spec, gitDir.guest, gitDir.host), nameguard: false }] : []),
  ];
}
