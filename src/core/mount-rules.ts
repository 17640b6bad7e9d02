// What may be added to a sandbox as a further mount (mount-add, volumes): a host folder that
// exposes neither heyvm's own state nor a repository's git folder, at a sandbox path that is not
// /workspace, its .git or heyvm's own paths. A VM backend serves /workspace through its share
// only (backends/libvirt/shares.ts binds what lies inside it), so there a mount must lie inside
// /workspace.
import { existsSync, realpathSync, statSync } from "node:fs";
import { isAbsolute, join, posix, relative, resolve } from "node:path";
import { REGISTRY } from "../backends/host-ids.js";
import { UserError } from "../shared/errors.js";
import { makeFolders } from "../shared/safe-fs.js";
import type { HeyoHome } from "../state/home.js";
import type { ExtraMount, SandboxSpec } from "../state/records.js";

const WORKSPACE = "/workspace";
/** Sandbox paths heyvm (or the kernel) needs for itself: never covered by a user's mount. */
const RESERVED_GUEST = ["/heyvm", "/proc", "/sys", "/dev", "/workspace/.git"];

/** a is b or inside b (both absolute and normalised). */
export function isWithin(a: string, b: string): boolean {
  const rel = relative(b, a);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/** A sandbox path: absolute, normalised, not /, /workspace, its .git or heyvm's paths. */
export function checkSandboxPath(path: string, usesVm: boolean): string {
  if (!path.startsWith("/") || posix.normalize(path) !== path || path.endsWith("/") || path.includes("\0")) {
    throw new UserError(`the sandbox path must be absolute and normalised (no "..", no trailing "/"), not "${path}"`);
  }
  if (path === "/" || path === WORKSPACE) throw new UserError(`${path} cannot be a mount's sandbox path: it is the sandbox's own`, { hint: "choose a folder such as /data or /workspace/data" });
  const reserved = RESERVED_GUEST.find((guest) => isWithin(path, guest));
  if (reserved) throw new UserError(`${path} lies in ${reserved}, which heyvm keeps for itself`, { hint: "choose another sandbox path" });
  if (usesVm && !isWithin(path, WORKSPACE)) {
    throw new UserError(`a VM sandbox sees host folders inside /workspace only, not at ${path}`, { hint: `choose a path under /workspace, e.g. /workspace${path}` });
  }
  return path;
}

/** The host folders a mount must neither be nor contain (or lie inside): heyvm's state and git folders. */
function guardedHostPaths(home: HeyoHome, spec: SandboxSpec | undefined): string[] {
  const guarded = [home.root, REGISTRY, "/var/lib/heyvm"];
  if (spec?.git) guarded.push(spec.git.commonDir);
  return guarded.map((path) => (existsSync(path) ? realpathSync(path) : resolve(path)));
}

/** The host folder of a mount, made absolute and real; refused if it would expose heyvm's state or a git folder. */
export function checkHostPath(home: HeyoHome, hostPath: string, spec: SandboxSpec | undefined): string {
  const absolute = resolve(hostPath);
  let real: string;
  try {
    real = realpathSync(absolute);
  } catch {
    throw new UserError(`${absolute} does not exist`, { hint: "create the folder first, or give another --host-path" });
  }
  if (!statSync(real).isDirectory()) throw new UserError(`${real} is not a folder`, { hint: "a mount is a folder" });
  for (const guarded of guardedHostPaths(home, spec)) {
    if (isWithin(real, guarded)) throw new UserError(`${real} ${real === guarded ? "is" : "lies inside"} ${guarded}, which a sandbox must not see`, { hint: "give a folder outside heyvm's state and the repository's .git" });
    if (isWithin(guarded, real)) throw new UserError(`${real} contains ${guarded}, which a sandbox must not see`, { hint: "give a folder that holds neither heyvm's state nor a repository's .git" });
  }
  if (real.split("/").includes(".git") || existsSync(join(real, ".git"))) {
    throw new UserError(`${real} is or holds a git folder (.git), which a sandbox must not see writable`, { hint: "give a subfolder without .git, or use `heyvm wt` for a repository" });
  }
  return real;
}

/** Refuses a mount whose sandbox path is taken by, inside, or around another of the sandbox's mounts. */
export function checkNoOverlap(spec: SandboxSpec, mount: ExtraMount): void {
  const clash = spec.mounts.find((other) => isWithin(mount.guest, other.guest) || isWithin(other.guest, mount.guest));
  if (clash) throw new UserError(`${mount.guest} overlaps the sandbox's mount at ${clash.guest}`, { hint: "choose another sandbox path" });
}

/**
 * A VM backend binds a mount inside /workspace onto a folder of the worktree (in virtiofsd's own
 * namespace), which must exist: made here, never through a link the sandbox left there.
 */
export function makeMountPoint(spec: SandboxSpec, guest: string): void {
  if (spec.backend === "bubblewrap" || !isWithin(guest, WORKSPACE) || guest === WORKSPACE) return;
  makeFolders(spec.workspace, relative(WORKSPACE, guest));
}
