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
import { readExecOptions, takesValue, type ExecFlags } from "./commands/exec-options.js";
import { wantsJson } from "./output-format.js";
import { VERSION } from "../shared/version.js";
import { printTraceTo } from "./trace-output.js";
import { traceStep } from "../shared/trace.js";

type FastCommand = (typeof FAST_COMMANDS)[number];

const LIST_FLAGS = new Set(["--json", "--all", "-a"]);

/** Each fast command's canonical form: undefined when argv is not it (the full CLI takes over). */
const FAST_FORMS: Record<FastCommand, (args: readonly string[], io: CliIO) => Promise<number> | undefined> = {
  exec: (args, io) => {
    const form = execForm(args);
    if (!form) return undefined;
    return (async () => {
      const [{ resolveSandbox }, { execLocal }, { heyoHome }, { execRequest, reportExec }] = await Promise.all([
        import("../core/catalog.js"),
        import("../core/targets/local-exec.js"),
        import("../state/home.js"),
        import("./commands/exec-options.js"),
      ]);
      try {
        const result = await execLocal(resolveSandbox(heyoHome(), form.id), form.command, execRequest(form.flags));
        return reportExec(io, form.flags, result);
      } catch (error) {
        return reportError(io, error, { json: wantsJson(form.flags) });
      }
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

/**
 * `exec [options] <id> [options] -- cmd…` for a local sandbox, with options it knows exactly (read
 * from exec's one declaration of them, commands/exec-options.ts); undefined for any other form
 * (no `--`, an unknown option, a cloud id), which the full CLI takes.
 */
function execForm(args: readonly string[]): { id: string; flags: ExecFlags; command: string[] } | undefined {
  const separator = args.indexOf("--");
  const command = args.slice(separator + 1);
  if (separator < 0 || command.length === 0) return undefined;
  const words = args.slice(0, separator);
  const at = words.findIndex((word, i) => !word.startsWith("-") && !takesValue(words[i - 1]));
  const id = words[at];
  if (at < 0 || id === undefined || targetKind(id) !== "local") return undefined;
  const flags = readExecOptions([...words.slice(0, at), ...words.slice(at + 1)]);
  return flags ? { id, flags, command } : undefined;
}

function isFastCommand(word: string | undefined): word is FastCommand {
  return (FAST_COMMANDS as readonly string[]).includes(word ?? "");
}

/** The exit code when argv was handled here, or undefined to hand it to the full CLI. */
export async function fastPath(argv: readonly string[], io: CliIO = { stdout: fdOutput(1), stderr: fdOutput(2) }): Promise<number | undefined> {
  const [command, ...args] = argv;
  printTraceTo(io.stderr);
  traceStep(`heyvm ${command ?? ""}: fast path loaded`);
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
