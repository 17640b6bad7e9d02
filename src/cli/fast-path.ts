// Agents call `heyvm exec <id> -- <cmd…>` and `heyvm list` in tight loops, and loading the
// argument parser and every command definition is a large part of their start-up. This module
// recognises only the canonical forms of the commands marked fast in commands/names.ts (and
// `--version`), without commander, and runs them directly; any other argv (options, help,
// mistakes) returns undefined and goes to the full CLI in main.ts. It is bundled on its own as
// CommonJS (dist/bundle/fast.cjs): node loads one CommonJS file markedly faster than a graph of
// ES modules.
import { fdOutput, type CliIO } from "./io.js";
import { reportError } from "./report-error.js";
import { FAST_COMMANDS } from "./commands/names.js";
import { targetKind } from "../core/targets/kind.js";
import { VERSION } from "../shared/version.js";

type FastCommand = (typeof FAST_COMMANDS)[number];

const LIST_FLAGS = new Set(["--json", "--all", "-a"]);

/** Each fast command's canonical form: undefined when argv is not it (the full CLI takes over). */
const FAST_FORMS: Record<FastCommand, (args: readonly string[], io: CliIO) => Promise<number> | undefined> = {
  exec: ([id, separator, ...rest]) => {
    if (!id || id.startsWith("-") || targetKind(id) !== "local" || separator !== "--" || rest.length === 0) return undefined;
    return (async () => {
      const [{ execInSandbox }, { heyoHome }] = await Promise.all([import("../core/attach.js"), import("../state/home.js")]);
      return execInSandbox(heyoHome(), id, rest, { tty: false });
    })();
  },
  list: (flags, io) => {
    if (!flags.every((flag) => LIST_FLAGS.has(flag))) return undefined;
    return (async () => {
      const { printList } = await import("./list-output.js");
      await printList(io, { all: flags.includes("--all") || flags.includes("-a"), wtOnly: false, json: flags.includes("--json") });
      return 0;
    })();
  },
};

function isFastCommand(word: string | undefined): word is FastCommand {
  return (FAST_COMMANDS as readonly string[]).includes(word ?? "");
}

/** The exit code when argv was handled here, or undefined to hand it to the full CLI. */
export async function fastPath(argv: readonly string[], io: CliIO = { stdout: fdOutput(1), stderr: fdOutput(2) }): Promise<number | undefined> {
  const [command, ...args] = argv;
  try {
    if (argv.length === 1 && (command === "--version" || command === "-V")) {
      io.stdout.write(`${VERSION}\n`);
      return 0;
    }
    if (isFastCommand(command)) return await FAST_FORMS[command](args, io);
  } catch (error) {
    return reportError(io, error);
  }
  return undefined;
}
