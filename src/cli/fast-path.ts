// Agents call `heyvm exec <id> -- <cmd…>` and `heyvm list` in tight loops, and loading the
// argument parser and every command definition is a large part of their start-up. This module
// recognises only those exact canonical forms (and `--version`), without commander, and runs
// them directly; any other argv (options, help, mistakes) returns undefined and goes to the full
// CLI in main.ts. It is bundled on its own as CommonJS (dist/bundle/fast.cjs): node loads one
// CommonJS file markedly faster than a graph of ES modules.
import { fdOutput, type CliIO } from "./io.js";
import { reportError } from "./report-error.js";
import { isCloudId } from "../shared/ids.js";
import { VERSION } from "../shared/version.js";

const LIST_FLAGS = new Set(["--json", "--all", "-a"]);

/** The exit code when argv was handled here, or undefined to hand it to the full CLI. */
export async function fastPath(argv: readonly string[], io: CliIO = { stdout: fdOutput(1), stderr: fdOutput(2) }): Promise<number | undefined> {
  const [command, id, separator, ...rest] = argv;
  try {
    if (argv.length === 1 && (command === "--version" || command === "-V")) {
      io.stdout.write(`${VERSION}\n`);
      return 0;
    }
    if (command === "exec" && id && !id.startsWith("-") && !isCloudId(id) && separator === "--" && rest.length > 0) {
      const [{ execInSandbox }, { heyoHome }] = await Promise.all([import("../core/attach.js"), import("../state/home.js")]);
      return await execInSandbox(heyoHome(), id, rest, { tty: false });
    }
    if (command === "list" && argv.slice(1).every((flag) => LIST_FLAGS.has(flag))) {
      const { printList } = await import("./list-output.js");
      await printList(io, { all: argv.includes("--all") || argv.includes("-a"), wtOnly: false, json: argv.includes("--json") });
      return 0;
    }
  } catch (error) {
    return reportError(io, error);
  }
  return undefined;
}
