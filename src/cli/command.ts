// Commands are declared as data (name, arguments, options, handler), as wrangler's
// createCommand does, and turned into commander commands here: the one place that knows
// commander's shapes, so each command file holds only what the command is and which core/
// use case it calls.
import { Command, Option } from "commander";
import type { CliIO } from "./io.js";
import { wantsJson, type FormatFlags } from "./output-format.js";
import { reportError } from "./report-error.js";
import { UserError } from "../shared/errors.js";

export interface ArgumentSpec {
  /** commander syntax: "<id>", "[branch]", "<command...>". */
  name: string;
  description: string;
}

export interface OptionSpec {
  /** commander syntax: "-d, --detach", "--path <dir>", "--no-network". */
  flags: string;
  description: string;
  default?: string | boolean | string[];
  choices?: readonly string[];
  hidden?: boolean;
  /** Each use adds a value to a list (`-e A=1 -e B=2`). */
  repeatable?: boolean;
}

export interface CommandContext<Flags> {
  io: CliIO;
  /** The positional arguments in declaration order (a variadic one is an array). */
  args: Array<string | string[] | undefined>;
  flags: Flags;
}

export interface CommandSpec<Flags = Record<string, unknown>> {
  name: string;
  description: string;
  hidden?: boolean;
  arguments?: ArgumentSpec[];
  options?: OptionSpec[];
  /** Text shown after the option list in --help (examples). */
  helpAfter?: string;
  /** Options after the first argument belong to it (exec's command line). */
  passThroughOptions?: boolean;
  subcommands?: Array<CommandSpec<never>>;
  /** Runs the command; resolves with its exit code (nothing means 0). */
  run?(context: CommandContext<Flags>): Promise<number | void>;
}

/** Types a command declaration's flags; the declaration itself stays plain data. */
export function defineCommand<Flags>(spec: CommandSpec<Flags>): CommandSpec<never> {
  return spec as CommandSpec<never>;
}

function toOption(spec: OptionSpec): Option {
  const option = new Option(spec.flags, spec.description);
  if (spec.repeatable) option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]).default([]);
  if (spec.default !== undefined) option.default(spec.default);
  if (spec.choices) option.choices(spec.choices);
  if (spec.hidden) option.hideHelp();
  return option;
}

/** Adds a declared command (and its subcommands) to a commander program. */
export function attachCommand(parent: Command, spec: CommandSpec<never>, io: CliIO, setExitCode: (code: number) => void): Command {
  const command = parent.command(spec.name, spec.hidden ? { hidden: true } : {}).description(spec.description);
  for (const argument of spec.arguments ?? []) command.argument(argument.name, argument.description);
  for (const option of spec.options ?? []) command.addOption(toOption(option));
  if (spec.helpAfter) command.addHelpText("after", spec.helpAfter);
  if (spec.passThroughOptions) command.passThroughOptions();
  for (const sub of spec.subcommands ?? []) attachCommand(command, sub, io, setExitCode);
  const { run } = spec;
  if (run) {
    command.action(async (...params: unknown[]) => {
      const count = spec.arguments?.length ?? 0;
      const args = params.slice(0, count) as Array<string | string[] | undefined>;
      const flags = params[count] as never;
      let code: number | void;
      try {
        code = await run({ io, args, flags });
      } catch (error) {
        if (!wantsJson(flags as FormatFlags)) throw error;
        code = reportError(io, error, { json: true }); // under --format json the error is JSON too
      }
      if (typeof code === "number") setExitCode(code);
    });
  }
  return command;
}

/**
 * Parses option words with a command's declared options (for options that stand among its
 * arguments, as exec's do between the id and `--`); a word that is not one of them is a usage
 * error.
 */
export function parseOptionWords<Flags>(specs: readonly OptionSpec[], words: readonly string[]): Flags {
  const parser = new Command("options").exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined }).allowExcessArguments(false);
  for (const spec of specs) parser.addOption(toOption(spec));
  try {
    parser.parse([...words], { from: "user" });
  } catch (error) {
    const message = error instanceof Error ? error.message.replace(/^error: /, "") : String(error);
    throw new UserError(message, { hint: "options go before the `--` that starts the command" });
  }
  return parser.opts<Record<string, unknown>>() as Flags;
}
