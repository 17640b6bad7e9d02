// owner.log as a tenant may read it through the API: the sandbox's own output as it is, the
// owner's lifecycle notes without what only the operator should see (the command line that
// started the machine, the server's own paths on this host).

/** A line in which the owner records the command that started the machine. */
const COMMAND_LINE = /^(\S+ owner: )starting (?:bwrap|qemu|virsh|\/)\S*(?: .*)?$/;

/**
 * The tenant's view of a piece of owner.log: command lines are replaced by a note, and every
 * host path in `hostPaths` (longest first) by what the tenant knows it as.
 */
export function tenantLogText(text: string, hostPaths: Array<[hostPath: string, shownAs: string]>): string {
  const ordered = [...hostPaths].filter(([path]) => path.length > 1).sort((a, b) => b[0].length - a[0].length);
  return text
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

/** Where a log chunk may be cut so that no line is cut (a line is redacted whole): after its last newline. */
export function wholeLines(text: string, complete: boolean): string {
  if (complete || text.endsWith("\n")) return text;
  const last = text.lastIndexOf("\n");
  return last === -1 ? text : text.slice(0, last + 1);
}
