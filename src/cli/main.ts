// The heyvm command line: argument parsing (commander), one error handler, and the only place
// that prints or decides exit codes. Commands are declared in commands/ (one file each) and
// loaded lazily, so that the commands agents call in loops (exec, list) start fast.
import { Command, CommanderError } from "commander";
import { quietOnClosedReader, written, type CliIO } from "./io.js";
import { errorJson, reportError } from "./report-error.js";
import { argvWantsJson } from "./output-format.js";
import { ExitCode, UserError } from "../shared/errors.js";
import { attachCommand } from "./command.js";
import { COMMAND_LOADERS } from "./commands/index.js";
import { COMMAND_NAMES, isCommandName, type CommandName } from "./commands/names.js";
import { takesValue } from "./commands/exec-options.js";
import { VERSION } from "../shared/version.js";
import { printTraceTo } from "./trace-output.js";
import { traceStep } from "../shared/trace.js";

/**
 * `--cloud-url URL` is accepted anywhere before the command's own arguments (heyvm's dialect: SDKs
 * pass it globally), and among exec's options between its id and `--`; it is taken out of argv and
 * handed on as HEYO_CLOUD_URL, which every cloud call reads after its own flags. exec's command
 * words (after `--`, or after its id when there is no `--`) are never looked at.
 */
export function takeCloudUrl(argv: readonly string[], stopAt = argv.length, env: NodeJS.ProcessEnv = process.env): string[] {
  const rest: string[] = [];
  let positionals = 0;
  const separator = argv.indexOf("--");
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] ?? "";
    const exec = rest[0] === "exec";
    const execWords = exec && positionals >= 2 && separator < i;
    if (word === "--" || execWords || i >= stopAt) return [...rest, ...argv.slice(i)];
    if (exec && takesValue(rest[rest.length - 1])) {
      rest.push(word); // an exec option's value (-w DIR, -e K=V…): neither an option nor the id
      continue;
    }
    if (word === "--cloud-url" && i + 1 < argv.length) {
      env.HEYO_CLOUD_URL = argv[i + 1];
      i += 1;
      continue;
    }
    if (word.startsWith("--cloud-url=")) {
      env.HEYO_CLOUD_URL = word.slice("--cloud-url=".length);
      continue;
    }
    if (!word.startsWith("-")) positionals += 1;
    rest.push(word);
  }
  return rest;
}

/** A command that declares --cloud-url itself (wt, login) reads its own; before it, it is global. */
async function withoutGlobalCloudUrl(argv: readonly string[]): Promise<string[]> {
  const at = argv.findIndex((word, i) => isCommandName(word) && argv[i - 1] !== "--cloud-url");
  const name = argv[at];
  const declaresOwn = isCommandName(name) && ((await COMMAND_LOADERS[name]()).options ?? []).some((option) => option.flags.includes("--cloud-url"));
  return takeCloudUrl(argv, declaresOwn ? at : argv.length);
}

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
export async function main(given: readonly string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  quietOnClosedReader(io.stdout);
  quietOnClosedReader(io.stderr);
  const code = await runCli(given, io);
  // the caller exits next (bin/heyvm): a pipe may not have taken all of the output yet
  await Promise.all([written(io.stdout), written(io.stderr)]);
  return code;
}

async function runCli(given: readonly string[], io: CliIO): Promise<number> {
  let exitCode = 0;
  if (!given[0]?.startsWith("__")) printTraceTo(io.stderr); // heyvm's own commands trace into owner.log
  traceStep(`heyvm ${given[0] ?? ""}: full CLI loaded`);
  try {
    const argv = await withoutGlobalCloudUrl(given);
    const program = await buildProgram(io, (code) => (exitCode = code), argv);
    await program.parseAsync([...argv], { from: "user" });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      const code = error.exitCode === 1 ? 2 : error.exitCode;
      // commander printed its message already; a script asking for JSON gets it as JSON too
      if (code !== 0 && argvWantsJson(given)) io.stdout.write(`${JSON.stringify(errorJson(new UserError(error.message.replace(/^error: /, ""), { exitCode: ExitCode.usage })), null, 2)}\n`);
      return code;
    }
    return reportError(io, error);
  }
}
