// `heyvm create`: a sandbox not tied to a worktree (heyvm's scripting dialect), started detached.
import { heyoHome } from "../../state/home.js";
import { UserError } from "../../shared/errors.js";
import { defineCommand } from "../command.js";
import { print, printJson, stderrReporter } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";
import { MACHINE_SIZE_OPTIONS, parseMachineSize, type MachineSizeFlags } from "../machine-size-options.js";
import { parseEnvPairs } from "./exec.js";

interface CreateFlags extends FormatFlags, MachineSizeFlags {
  name?: string;
  image?: string;
  backend?: string;
  mount: string[];
  openPort: string[];
  env: string[];
  workingDirectory?: string;
  startCommand?: string;
  ttlSeconds?: string;
  ttl: boolean;
  network: boolean;
  printId?: boolean;
  quiet?: boolean;
  volume: string[];
}

export const createCommand = defineCommand<CreateFlags>({
  name: "create",
  description: "create and start a sandbox that is not tied to a worktree (its /workspace is the first --mount, or empty)",
  options: [
    { flags: "--name <name>", description: "a name to find it by (default: its id)" },
    { flags: "--image <name>", description: "base image (see `heyvm images list`)" },
    { flags: "--backend <name>", description: "bubblewrap, libvirt, firecracker or apple_virt (default: the first usable)" },
    { flags: "--mount <HOST:SANDBOX[:ro]>", description: "a host folder inside (repeatable; the first one is /workspace)", repeatable: true },
    { flags: "--open-port <[host:]guest>", description: "make a guest port reachable on the host's 127.0.0.1 (repeatable)", repeatable: true },
    { flags: "-e, --env <KEY=VALUE>", description: "a variable for every command in the sandbox (repeatable)", repeatable: true },
    { flags: "--working-directory <dir>", description: "where exec and shells start inside (default /workspace)" },
    { flags: "--start-command <command>", description: "run this (with sh -c) in the background once the sandbox is ready; output goes to its log" },
    { flags: "--ttl-seconds <n>", description: "stop the sandbox this many seconds after it starts" },
    { flags: "--no-ttl", description: "no time limit (the default)" },
    { flags: "--no-network", description: "cut the sandbox off from the network" },
    ...MACHINE_SIZE_OPTIONS,
    { flags: "--volume <NAME[:PATH]>", description: "mount a named volume (made if missing) at PATH (default /volumes/NAME; VMs: under /workspace) (repeatable)", repeatable: true },
    ...FORMAT_OPTIONS,
    { flags: "--print-id", description: "print only the sandbox id" },
    { flags: "-q, --quiet", description: "no progress messages; print only the sandbox id" },
  ],
  helpAfter: "\nExamples:\n  heyvm create --name scratch --mount ./project:/workspace --open-port 8080\n  id=$(heyvm create --print-id --ttl-seconds 600)",
  async run({ io, flags }) {
    const { createStandalone, parseMount, parsePort } = await import("../../core/create.js");
    const { parseBackendName } = await import("../../backends/registry.js");
    let ttlSeconds: number | null = null;
    if (flags.ttlSeconds !== undefined) {
      if (!flags.ttl) throw new UserError("--ttl-seconds and --no-ttl contradict each other");
      ttlSeconds = Number(flags.ttlSeconds);
      if (!/^\d+$/.test(flags.ttlSeconds) || ttlSeconds < 1) throw new UserError(`--ttl-seconds takes a whole number of seconds, not "${flags.ttlSeconds}"`);
    }
    const cwd = process.cwd();
    const json = wantsJson(flags);
    const info = await createStandalone(
      heyoHome(),
      {
        name: flags.name,
        image: flags.image,
        backend: flags.backend ? parseBackendName(flags.backend) : undefined,
        mounts: flags.mount.map((m) => parseMount(m, cwd)),
        ports: flags.openPort.map(parsePort),
        env: parseEnvPairs(flags.env),
        workingDirectory: flags.workingDirectory,
        startCommand: flags.startCommand,
        ttlSeconds,
        network: flags.network,
        ...parseMachineSize(flags),
        volumes: flags.volume,
        cwd,
      },
      stderrReporter(io, flags.quiet || json || flags.printId),
    );
    if (json) printJson(io, { id: info.id, name: info.name, status: info.status, backend: info.backend, port_mappings: info.port_mappings });
    else print(io, flags.printId || flags.quiet ? info.id : `ID: ${info.id}`);
  },
});
