// Local sandbox commands: wt, sh, exec, stop, logs, list.
import { Command, Option } from "commander";
import { UserError } from "../../shared/errors.js";
import { isCloudId } from "../../shared/ids.js";
import { heyoHome } from "../../state/home.js";
import type { BackendName } from "../../shared/backend-name.js";
import { print, printJson, stderrReporter, type CliIO } from "../io.js";
import { printList } from "../list-output.js";
import { addDeployOptions, type DeployFlags } from "./deploy-options.js";

interface WtFlags extends DeployFlags {
  detach?: boolean;
  shell?: boolean;
  list?: boolean;
  all?: boolean;
  path?: string;
  backend?: string;
  image?: string;
  network: boolean;
  json?: boolean;
  quiet?: boolean;
}

async function backendOption(name: string | undefined): Promise<BackendName | undefined> {
  if (!name) return undefined;
  const { parseBackendName } = await import("../../backends/registry.js");
  return parseBackendName(name);
}


/** The commands this module defines, so the CLI can register just the one being run. */
export const LOCAL_COMMANDS = ["wt", "sh", "exec", "stop", "logs", "list"];

export function registerLocalCommands(program: Command, io: CliIO, setExitCode: (code: number) => void, only?: string): void {
  const wanted = (name: string) => only === undefined || only === name;
  if (wanted("wt")) registerWt(program, io, setExitCode);
  if (wanted("sh")) registerSh(program, io, setExitCode);
  if (wanted("exec")) registerExec(program, io, setExitCode);
  if (wanted("stop")) registerStop(program, io);
  if (wanted("logs")) registerLogs(program, io);
  if (wanted("list")) registerList(program, io);
}

function registerWt(program: Command, io: CliIO, setExitCode: (code: number) => void): void {
  const wt = program
    .command("wt")
    .description("create (or reuse) a branch's worktree at ../<slug> and a sandbox whose /workspace is it, then open a shell")
    .argument("[branch]", "branch to work on; created from HEAD if it does not exist")
    .option("-d, --detach", "start the sandbox in the background and return once it is ready")
    .option("--shell", "open a shell in the branch's running sandbox")
    .option("--list", "list only wt-* sandboxes")
    .option("--all", "with --list: include stopped sandboxes")
    .option("--path <dir>", "where to put the worktree (default: ../<slugified-branch> beside the repository)")
    .option("--backend <name>", "bubblewrap, libvirt, firecracker or apple_virt (default: the first usable)")
    .option("--image <name>", "base image for the sandbox (see `heyvm images list`)")
    .option("--no-network", "cut the sandbox off from the network")
    .option("--json", "print the result as JSON")
    .option("-q, --quiet", "no progress messages")
    .addHelpText(
      "after",
      "\nExamples:\n  heyvm wt feature/x            worktree + sandbox + shell; the sandbox stops when the shell exits\n  heyvm wt feature/x --detach   same, in the background (an owner process keeps it running)\n  heyvm wt feature/x --shell    a shell in the running sandbox\n  heyvm wt --list               wt sandboxes",
    );
  addDeployOptions(wt);
  wt.action(async (branch: string | undefined, flags: WtFlags) => {
    if (flags.list) {
      await printList(io, { all: flags.all ?? false, wtOnly: true, json: flags.json ?? false });
      return;
    }
    if (!branch) throw new UserError("a branch name is needed", { hint: "usage: heyvm wt <branch> [--detach|--shell]" });
    if (flags.deploy) {
      const { deployWorktree } = await import("./deploy.js");
      setExitCode(await deployWorktree(io, branch, flags));
      return;
    }
    const home = heyoHome();
    if (flags.shell) {
      const { wtShell } = await import("../../core/wt.js");
      setExitCode(await wtShell(home, branch, process.cwd(), Boolean(process.stdin.isTTY)));
      return;
    }
    const request = { branch, cwd: process.cwd(), path: flags.path, backend: await backendOption(flags.backend), image: flags.image, network: flags.network, tty: Boolean(process.stdin.isTTY) };
    const reporter = stderrReporter(io, flags.quiet || flags.json);
    if (flags.detach) {
      const { wtDetached } = await import("../../core/wt.js");
      const result = await wtDetached(home, request, reporter);
      const { spec } = result.entry;
      if (flags.json) {
        printJson(io, { id: spec.id, name: spec.name, backend: spec.backend, branch, worktree: result.worktree, reused: result.reused });
      } else {
        if (!flags.quiet) io.stderr.write(`${result.reused ? "already running" : "ready"}: ${spec.name} (${spec.backend}), /workspace = ${result.worktree}\n  heyvm sh ${spec.id}    heyvm exec ${spec.id} -- <cmd>    heyvm stop ${spec.id}\n`);
        print(io, spec.id);
      }
      return;
    }
    const { wtAttached } = await import("../../core/wt.js");
    const { sandbox, exitCode } = await wtAttached(home, request, reporter);
    if (!sandbox.reused && !flags.quiet) io.stderr.write(`sandbox ${sandbox.entry.spec.id} stopped; the worktree stays at ${sandbox.worktree}\n`);
    setExitCode(exitCode);
  });
}

function registerSh(program: Command, io: CliIO, setExitCode: (code: number) => void): void {
  program
    .command("sh")
    .description("open a shell in /workspace of a running sandbox (local sb-… or cloud dep-…)")
    .argument("<id>", "sandbox id, unique id prefix, wt-<slug> name or branch name")
    .action(async (id: string) => {
      if (isCloudId(id)) {
        const { cloudShell } = await import("./cloud-sandbox.js");
        setExitCode(await cloudShell(io, id));
        return;
      }
      const { shellInSandbox } = await import("../../core/attach.js");
      setExitCode(await shellInSandbox(heyoHome(), id, { tty: Boolean(process.stdin.isTTY) }));
    });
}

function registerExec(program: Command, io: CliIO, setExitCode: (code: number) => void): void {
  program
    .command("exec")
    .description("run a command in /workspace of a running sandbox; stdin, stdout, stderr and the exit code pass through")
    .argument("<id>", "sandbox id, unique id prefix, wt-<slug> name or branch name")
    .argument("<command...>", "the command and its arguments (put -- before it)")
    .option("-w, --workdir <dir>", "working folder inside (default /workspace)")
    .option("-e, --env <KEY=VALUE>", "an environment variable for the command (repeatable; before <id>)", (value: string, previous: string[]) => [...previous, value], [] as string[])
    .passThroughOptions()
    .action(async (id: string, words: string[], flags: { workdir?: string; env?: string[] }) => {
      const command = words[0] === "--" ? words.slice(1) : words;
      if (command.length === 0) throw new UserError("no command given", { hint: "usage: heyvm exec <id> -- <command> [args…]" });
      const env: Record<string, string> = {};
      for (const pair of flags.env ?? []) {
        const eq = pair.indexOf("=");
        if (eq <= 0) throw new UserError(`--env takes KEY=VALUE, not "${pair}"`);
        env[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
      if (isCloudId(id)) {
        const { cloudExec } = await import("./cloud-sandbox.js");
        setExitCode(await cloudExec(io, id, command, { cwd: flags.workdir, env }));
        return;
      }
      const { execInSandbox } = await import("../../core/attach.js");
      setExitCode(await execInSandbox(heyoHome(), id, command, { tty: false, cwd: flags.workdir, env }));
    });
}

function registerStop(program: Command, io: CliIO): void {
  program
    .command("stop")
    .description("stop a sandbox (detached or attached); stopping a stopped one is not an error")
    .argument("<id>", "sandbox id, unique id prefix, wt-<slug> name or branch name (or dep-… for cloud)")
    .option("--json", "print the result as JSON")
    .action(async (id: string, flags: { json?: boolean }) => {
      if (isCloudId(id)) {
        const { cloudStop } = await import("./cloud-sandbox.js");
        await cloudStop(io, id, flags.json ?? false);
        return;
      }
      const { stopSandbox } = await import("../../core/stop.js");
      const result = await stopSandbox(heyoHome(), id);
      if (flags.json) printJson(io, result);
      else print(io, result.wasRunning ? `stopped ${result.id} (${result.name})` : `${result.id} (${result.name}) was not running`);
    });
}

function registerLogs(program: Command, io: CliIO): void {
  program
    .command("logs")
    .description("show a sandbox's owner log (~/.heyo/sandboxes/<id>/owner.log)")
    .argument("<id>", "sandbox id, unique id prefix, wt-<slug> name or branch name (or dep-… for cloud)")
    .option("-f, --follow", "keep printing new lines until the sandbox stops")
    .option("-n, --lines <count>", "start with the last <count> lines (0 = all)", "200")
    .action(async (id: string, flags: { follow?: boolean; lines: string }) => {
      const lines = Number(flags.lines);
      if (!Number.isInteger(lines) || lines < 0) throw new UserError(`--lines takes a whole number, not "${flags.lines}"`);
      if (isCloudId(id)) {
        const { cloudLogs } = await import("./cloud-sandbox.js");
        await cloudLogs(io, id, { follow: flags.follow ?? false, lines });
        return;
      }
      const { sandboxLog } = await import("../../core/logs.js");
      for await (const chunk of sandboxLog(heyoHome(), id, { follow: flags.follow ?? false, lines })) io.stdout.write(chunk);
    });
}

function registerList(program: Command, io: CliIO): void {
  program
    .command("list")
    .description("list sandboxes across backends (running ones unless --all)")
    .option("-a, --all", "include stopped sandboxes")
    .option("--cloud", "list cloud sandboxes instead")
    .option("--json", "print JSON")
    .addOption(new Option("--wt", "only wt-* sandboxes").hideHelp())
    .action(async (flags: { all?: boolean; cloud?: boolean; json?: boolean; wt?: boolean }) => {
      if (flags.cloud) {
        const { cloudList } = await import("./cloud-sandbox.js");
        await cloudList(io, flags.json ?? false);
        return;
      }
      await printList(io, { all: flags.all ?? false, wtOnly: flags.wt ?? false, json: flags.json ?? false });
    });
}
