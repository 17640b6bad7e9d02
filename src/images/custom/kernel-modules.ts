// Whether an image's own kernel has the modules a guest needs, read from the unpacked image's
// /lib/modules/<version> (modules.builtin and modules.dep, as depmod wrote them) without running
// anything. heyvm's injected kernel always has them; an image's own kernel may not, and the build
// says so instead of letting a sandbox find out at boot.
import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from "node:fs";
import { join, sep } from "node:path";

export interface ModuleCheck {
  /** The modules folder inside the image that was read (e.g. /lib/modules/6.1.0-18-amd64), or null when none was found for that kernel. */
  modulesDir: string | null;
  /** The wanted modules that are neither built in nor in that folder. */
  missing: string[];
}

/** A folder inside tree, or null when it is missing or leads outside the tree (an absolute link). */
function dirInTree(tree: string, pathInImage: string): string | null {
  try {
    const root = realpathSync(tree);
    const resolved = realpathSync(join(tree, pathInImage));
    return resolved.startsWith(root + sep) && statSync(resolved).isDirectory() ? resolved : null;
  } catch {
    return null;
  }
}

function readIfThere(path: string): string {
  return existsSync(path) ? readFileSync(path, "utf8") : "";
}

/** The module names (file names without .ko and compression) listed in a depmod file. */
function moduleNames(text: string, firstFieldOnly: boolean): Set<string> {
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    const path = firstFieldOnly ? (line.split(":")[0] ?? "") : line.trim();
    const base = path.split("/").pop() ?? "";
    const name = /^(.+)\.ko(?:\.(?:xz|zst|gz))?$/.exec(base)?.[1];
    if (name) names.add(name.replace(/-/g, "_"));
  }
  return names;
}

/**
 * Which of wanted the kernel at kernelInImage (/boot/vmlinuz-<version>, or another name) lacks:
 * its /lib/modules/<version>, or the only modules folder the image has.
 */
export function missingGuestModules(tree: string, kernelInImage: string, wanted: readonly string[]): ModuleCheck {
  const modules = dirInTree(tree, "lib/modules") ?? dirInTree(tree, "usr/lib/modules");
  if (!modules) return { modulesDir: null, missing: [...wanted] };
  const version = /\/vmlinuz-(.+)$/.exec(kernelInImage)?.[1];
  const versions = readdirSync(modules).filter((name) => statSync(join(modules, name)).isDirectory());
  const chosen = version && versions.includes(version) ? version : versions.length === 1 ? versions[0] : undefined;
  if (!chosen) return { modulesDir: null, missing: [...wanted] };
  const dir = join(modules, chosen);
  const present = new Set([...moduleNames(readIfThere(join(dir, "modules.builtin")), false), ...moduleNames(readIfThere(join(dir, "modules.dep")), true)]);
  return { modulesDir: `/lib/modules/${chosen}`, missing: wanted.filter((name) => !present.has(name)) };
}
