// The heyvm command line: argument parsing (commander), one error handler, and the only place
// that prints or decides exit codes. Commands are declared in commands/ (one file each) and
// loaded lazily, so that the commands agents call in loops (exec, list) start fast.
import { Command, CommanderError } from "commander";
import type { CliIO } from "./io.js";
import { reportError } from "./report-error.js";
import { attachCommand } from "./command.js";
import { COMMAND_LOADERS } from "./commands/index.js";
import { COMMAND_NAMES, isCommandName, type CommandName } from "./commands/names.js";
import { VERSION } from "../shared/version.js";

/**
 * The command about to run when argv names one plainly (no help asked for): only it is
 * registered, which keeps start-up short for the commands agents call in loops.
 */
function soleCommand(argv: readonly string[]): CommandName | undefined {
  const [first] = argv;
  if (argv.includes("--help") || argv.includes("-h")) return undefined;
  return isCommandName(first) ? first : undefined;
}

export async function buildProgram(io: CliIO, setExitCode: (code: number) => void, argv: readonly string[] = []): Promise<Command> {
  const only = soleCommand(argv);
  const program = new Command("heyvm")
    .description("git worktrees paired with isolated sandboxes whose /workspace is the worktree")
    .version(VERSION, "-V, --version")
    .enablePositionalOptions()
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });
  const names = only ? [only] : COMMAND_NAMES;
  const specs = await Promise.all(names.map((name) => COMMAND_LOADERS[name]()));
  for (const spec of specs) attachCommand(program, spec, io, setExitCode);
  return program;
}

/** Runs the CLI on argv (without node and script) and resolves with the exit code. */
export async function main(argv: readonly string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let exitCode = 0;
  try {
    const program = await buildProgram(io, (code) => (exitCode = code), argv);
    await program.parseAsync([...argv], { from: "user" });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 1 ? 2 : error.exitCode;
    return reportError(io, error);
  }
}
