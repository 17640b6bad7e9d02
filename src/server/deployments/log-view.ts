// owner.log as a tenant may read it through the API: control sequences escaped (the route then
// marks the lines heyvm did not write: shared/log-lines.ts), the owner's
// lifecycle notes without what only the operator should see (the command line that started the
// machine, the server's own paths on this host).
import { escapeControls } from "../../shared/terminal-text.js";

/** A line in which the owner records the command that started the machine. */
const COMMAND_LINE = /^(\S+ owner: )starting (?:bwrap|qemu|virsh|\/)\S*(?: .*)?$/;

/**
 * The tenant's view of a piece of owner.log (decoded by decodeUntrusted): command lines are
 * replaced by a note, and every host path in `hostPaths` (longest first) by what the tenant knows it as.
 */
export function tenantLogText(text: string, hostPaths: Array<[hostPath: string, shownAs: string]>): string {
  const ordered = [...hostPaths].filter(([path]) => path.length > 1).sort((a, b) => b[0].length - a[0].length);
  return escapeControls(text)
    .split("\n")
    .map((line) => {
      const command = COMMAND_LINE.exec(line);
      if (command) return `${command[1]}starting the sandbox`;
      let shown = line;
      for (const [path, as] of ordered) shown = shown.split(path).join(as);
      return shown;
    })
    .join("\n");
}
