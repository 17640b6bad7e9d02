// `heyvm wt <branch>`: the branch's worktree plus a sandbox whose /workspace is it (attached,
// --detach, --shell, --list, or --deploy to the cloud).
import { UserError } from "../../shared/errors.js";
import { heyoHome } from "../../state/home.js";
import { NETWORK_MODES, type NetworkMode } from "../../state/records.js";
import type { BackendName } from "../../shared/backend-name.js";
import { defineCommand } from "../command.js";
import { print, printJson, stderrReporter } from "../io.js";
import { printList } from "../list-output.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";
import { MACHINE_SIZE_OPTIONS, parseMachineSize, type MachineSizeFlags } from "../machine-size-options.js";
import { DEPLOY_OPTIONS, type DeployFlags } from "./deploy-options.js";

interface WtFlags extends DeployFlags, FormatFlags, MachineSizeFlags {
  detach?: boolean;
  createBranch?: boolean;
  printId?: boolean;
  shell?: boolean;
  list?: boolean;
  all?: boolean;
  path?: string;
  backend?: string;
  image?: string;
  /** A mode from --network, false from --no-network, undefined when neither was given. */
  network?: string | boolean;
  quiet?: boolean;
  volume: string[];
}

function networkOption(value: string | boolean | undefined): NetworkMode {
  if (value === false) return "none";
  if (value === undefined || value === true) return "outbound";
  const mode = NETWORK_MODES.find((name) => name === value);
  if (!mode) throw new UserError(`--network takes ${NETWORK_MODES.join(", ")}, not "${value}"`, { hint: "leave it out for the default (outbound only)" });
  return mode;
}

async function backendOption(name: string | undefined): Promise<BackendName | undefined> {
  if (!name) return undefined;
  const { parseBackendName } = await import("../../backends/registry.js");
  return parseBackendName(name);
}

export const wtCommand = defineCommand<WtFlags>({
  name: "wt",
  description: "create (or reuse) a branch's worktree at ../<slug> and a sandbox whose /workspace is it, then open a shell",
  arguments: [{ name: "[branch]", description: "branch to work on; created from HEAD if it does not exist" }],
  options: [
    { flags: "-d, --detach", description: "start the sandbox in the background and return once it is ready" },
    { flags: "-b, --create-branch", description: "create the branch from HEAD if it does not exist (never from a remote branch)" },
    { flags: "--shell", description: "open a shell in the branch's running sandbox" },
    { flags: "--list", description: "list only wt-* sandboxes" },
    { flags: "--all", description: "with --list: include stopped sandboxes" },
    { flags: "--path <dir>", description: "where to put the worktree (default: ../<slugified-branch> beside the repository)" },
    { flags: "--backend <name>", description: "bubblewrap, libvirt, firecracker or apple_virt (default: the first usable)" },
    { flags: "--image <name>", description: "base image for the sandbox (see `heyvm images list`)" },
    { flags: "--network <mode>", description: "outbound (default: its own network, outbound only, no way to the host's 127.0.0.1), none, or host (shares this machine's network)" },
    { flags: "--no-network", description: "cut the sandbox off from the network (same as --network none)" },
    ...MACHINE_SIZE_OPTIONS,
    { flags: "--volume <NAME[:PATH]>", description: "mount a named volume (made if missing) at PATH (default /volumes/NAME; VMs: under /workspace) (repeatable)", repeatable: true },
    ...FORMAT_OPTIONS,
    { flags: "--print-id", description: "print only the sandbox id (for id=$(heyvm wt x --detach --print-id))" },
    { flags: "-q, --quiet", description: "no progress messages; print only the sandbox id" },
    ...DEPLOY_OPTIONS,
  ],
  helpAfter:
    "\nExamples:\n  heyvm wt feature/x            worktree + sandbox + shell; the sandbox stops when the shell exits\n  heyvm wt feature/x --detach   same, in the background (an owner process keeps it running)\n  heyvm wt feature/x --shell    a shell in the running sandbox\n  heyvm wt --list               wt sandboxes",
  async run({ io, args: [branchArg], flags }) {
    const json = wantsJson(flags);
    const bareId = flags.printId === true || flags.quiet === true;
    if (flags.list) return printList(io, { all: flags.all ?? false, wtOnly: true, json });
    const branch = typeof branchArg === "string" ? branchArg : undefined;
    if (!branch) throw new UserError("a branch name is needed", { hint: "usage: heyvm wt <branch> [--detach|--shell]" });
    const network = networkOption(flags.network);
    if (flags.deploy) {
      if (network === "host") throw new UserError("--network host is for local sandboxes only", { hint: "cloud sandboxes always get outbound-only network; leave out --network" });
      const { deployWorktree } = await import("./deploy.js");
      return deployWorktree(io, branch, { ...flags, json });
    }
    const home = heyoHome();
    if (flags.shell) {
      const { wtShell } = await import("../../core/wt.js");
      return wtShell(home, branch, process.cwd(), Boolean(process.stdin.isTTY));
    }
    if (network === "host") io.stderr.write("warning: --network host: the sandbox shares this machine's network, so it reaches every service on 127.0.0.1 and its abstract sockets\n");
    const request = { branch, cwd: process.cwd(), path: flags.path, createBranch: flags.createBranch === true, backend: await backendOption(flags.backend), image: flags.image, network, ...parseMachineSize(flags), tty: Boolean(process.stdin.isTTY), volumes: flags.volume };
    const reporter = stderrReporter(io, flags.quiet || json);
    const printId = (id: string) => print(io, bareId ? id : `ID: ${id}`);
    if (flags.detach) {
      const { wtDetached } = await import("../../core/wt.js");
      const result = await wtDetached(home, request, reporter);
      const { spec } = result.entry;
      if (json) {
        printJson(io, { id: spec.id, name: spec.name, status: "running", backend: spec.backend, branch, worktree: result.worktree, reused: result.reused });
      } else {
        if (!bareId) io.stderr.write(`${result.reused ? "already running" : "ready"}: ${spec.name} (${spec.backend}), /workspace = ${result.worktree}\n  heyvm sh ${spec.id}    heyvm exec ${spec.id} -- <cmd>    heyvm stop ${spec.id}\n`);
        printId(spec.id);
      }
      return;
    }
    const { wtAttached } = await import("../../core/wt.js");
    const { sandbox, exitCode } = await wtAttached(home, request, reporter);
    if (!sandbox.reused && !flags.quiet) io.stderr.write(`sandbox ${sandbox.entry.spec.id} stopped; the worktree stays at ${sandbox.worktree}\n`);
    if (json) printJson(io, { id: sandbox.entry.spec.id, name: sandbox.entry.spec.name, status: sandbox.reused ? "running" : "stopped", exit_code: exitCode, worktree: sandbox.worktree });
    else printId(sandbox.entry.spec.id);
    return exitCode;
  },
});
