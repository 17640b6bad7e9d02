// The heyvm command line: argument parsing (commander), one error handler, and the only place
// that prints or decides exit codes. Command handlers import their use cases lazily so that the
// commands agents call in loops (exec, list) start fast.
import { Command, CommanderError, Option } from "commander";
import type { CliIO } from "./io.js";
import { reportError } from "./report-error.js";
import { LOCAL_COMMANDS, registerLocalCommands } from "./commands/local.js";
import { registerImageCommands } from "./commands/images.js";
import { registerCloudCommands } from "./commands/cloud.js";
import { VERSION } from "../shared/version.js";

const CLOUD_COMMANDS = ["login", "logout", "server"];
/** Commands heyvm runs of itself (the owner, and the stop its native monitor runs). */
const INTERNAL_COMMANDS = ["__sandbox_owner", "__sandbox_stop"];

/**
 * The command about to run when argv names one plainly (no help asked for): only it is
 * registered, which keeps start-up short for the commands agents call in loops.
 */
function soleCommand(argv: readonly string[]): string | undefined {
  const [first] = argv;
  if (!first || first === "help" || argv.includes("--help") || argv.includes("-h")) return undefined;
  return [...LOCAL_COMMANDS, ...CLOUD_COMMANDS, ...INTERNAL_COMMANDS, "images"].includes(first) ? first : undefined;
}

export function buildProgram(io: CliIO, setExitCode: (code: number) => void, argv: readonly string[] = []): Command {
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
  if (only === undefined || LOCAL_COMMANDS.includes(only)) registerLocalCommands(program, io, setExitCode, only);
  if (only === undefined || only === "images") registerImageCommands(program, io);
  if (only === undefined || CLOUD_COMMANDS.includes(only)) registerCloudCommands(program, io, setExitCode);
  if (only !== undefined && !INTERNAL_COMMANDS.includes(only)) return program;
  program
    .command("__sandbox_owner", { hidden: true })
    .argument("<id>")
    .addOption(new Option("--attached").hideHelp())
    .action(async (id: string, options: { attached?: boolean }) => {
      const { runOwner } = await import("../owner/main.js");
      setExitCode(await runOwner(id, options.attached ? "attached" : "detached"));
    });
  program
    .command("__sandbox_stop", { hidden: true })
    .argument("<id>")
    .action(async (id: string) => {
      const { runStopCommand } = await import("../owner/stop-command.js");
      setExitCode(await runStopCommand(id));
    });
  return program;
}

/** Runs the CLI on argv (without node and script) and resolves with the exit code. */
export async function main(argv: readonly string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let exitCode = 0;
  const program = buildProgram(io, (code) => (exitCode = code), argv);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 1 ? 2 : error.exitCode;
    return reportError(io, error);
  }
}
