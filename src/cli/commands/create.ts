// `heyvm create`: a sandbox not tied to a worktree (heyvm's scripting dialect), started detached.
import { heyoHome } from "../../state/home.js";
import { UserError } from "../../shared/errors.js";
import { defineCommand } from "../command.js";
import { print, printJson, stderrReporter } from "../io.js";
import { FORMAT_OPTIONS, wantsJson, type FormatFlags } from "../output-format.js";
import { MACHINE_SIZE_OPTIONS, parseMachineSize, type MachineSizeFlags } from "../machine-size-options.js";
import { parseEnvPairs } from "./exec.js";
import { parsePortNumber } from "./bind.js";
import type { CliIO } from "../io.js";

/** --health-path needs a port to ask (the first --port, else the first --open-port). */
function healthOf(flags: CreateFlags): { port: number; path: string } | undefined {
  if (flags.healthPath === undefined) return undefined;
  if (!/^\/[\x21-\x7e]*$/.test(flags.healthPath)) throw new UserError(`--health-path takes an absolute URL path such as /health, not "${flags.healthPath}"`);
  const first = flags.port[0] ?? flags.openPort[0]?.split(":").pop();
  if (first === undefined) throw new UserError("--health-path needs a --port to ask", { hint: "add --port <port>" });
  return { port: parsePortNumber(first, "--port"), path: flags.healthPath };
}

async function createInCloud(io: CliIO, flags: CreateFlags): Promise<void> {
  const localOnly: Array<[boolean, string]> = [
    [flags.mount.length > 0, "--mount"],
    [flags.openPort.length > 0, "--open-port (use --port)"],
    [!flags.network, "--no-network"],
    [flags.volume.length > 0, "--volume (cloud volumes are not offered by this server)"],
    [flags.cpus !== undefined || flags.memory !== undefined || flags.pids !== undefined, "--cpus/--memory/--pids (use --size-class)"],
  ];
  for (const [given, name] of localOnly) if (given) throw new UserError(`${name} is for local sandboxes`, { hint: "leave it out with --cloud" });
  const { createCloudSandbox } = await import("../../core/cloud-create.js");
  const json = wantsJson(flags);
  let ttlSeconds: number | undefined;
  if (flags.ttlSeconds !== undefined) {
    ttlSeconds = Number(flags.ttlSeconds);
    if (!/^\d+$/.test(flags.ttlSeconds) || ttlSeconds < 1) throw new UserError(`--ttl-seconds takes a whole number of seconds, not "${flags.ttlSeconds}"`);
  }
  const result = await createCloudSandbox(
    heyoHome(),
    {
      name: flags.slug ?? flags.name,
      getExisting: flags.slug !== undefined,
      image: flags.image,
      driver: flags.backend,
      region: flags.region,
      sizeClass: flags.sizeClass,
      ports: flags.port.map((p) => parsePortNumber(p, "--port")),
      isPrivate: flags.private === true,
      env: parseEnvPairs(flags.env),
      workingDirectory: flags.workingDirectory,
      startCommand: flags.startCommand,
      ttlSeconds,
      setupHooks: flags.setupHook,
      health: healthOf(flags),
    },
    stderrReporter(io, flags.quiet || json || flags.printId),
  );
  if (json) printJson(io, { ...result.deployment, created: result.created });
  else print(io, flags.quiet || flags.printId ? result.deployment.id : `ID: ${result.deployment.id}`);
}

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
  cloud?: boolean;
  region?: string;
  sizeClass?: string;
  port: string[];
  healthPath?: string;
  private?: boolean;
  slug?: string;
  setupHook: string[];
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
    { flags: "--port <port>", description: "a port to expose (repeatable): locally on a free port of 127.0.0.1, in the cloud a URL", repeatable: true },
    { flags: "--health-path <path>", description: "after the start, wait until the first --port answers HTTP GET <path> (below 500)" },
    { flags: "--private", description: "cloud: the --port URLs answer only with your API token" },
    { flags: "--slug <name>", description: "get-or-create by this name: an existing sandbox of that name is returned as it is (created: false)" },
    { flags: "--setup-hook <command>", description: "run this (sh -c) once after the first start, before --start-command (repeatable, in order; one that fails fails the create)", repeatable: true },
    { flags: "--cloud", description: "create it in the configured cloud (heyvm login) instead of here" },
    { flags: "--region <region>", description: "cloud: US or EU (default US)" },
    { flags: "--size-class <class>", description: "cloud: micro, mini, small, medium, large or xlarge (default small)" },
    ...FORMAT_OPTIONS,
    { flags: "--print-id", description: "print only the sandbox id" },
    { flags: "-q, --quiet", description: "no progress messages; print only the sandbox id" },
  ],
  helpAfter:
    "\nExamples:\n  heyvm create --name scratch --mount ./project:/workspace --open-port 8080\n  id=$(heyvm create --print-id --ttl-seconds 600)\n  heyvm create --slug api --port 3000 --health-path /health --setup-hook 'npm ci' --start-command 'npm start'\n  heyvm create --cloud --region EU --size-class medium --port 8080 --private --format json",
  async run({ io, flags }) {
    if (flags.cloud) return createInCloud(io, flags);
    for (const [given, name] of [[flags.region, "--region"], [flags.sizeClass, "--size-class"]] as const) {
      if (given !== undefined) throw new UserError(`${name} is for cloud sandboxes`, { hint: `add --cloud, or size a local one with --cpus/--memory` });
    }
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
        ports: [...flags.openPort.map(parsePort), ...flags.port.map((p) => ({ guest: parsePortNumber(p, "--port"), host: null }))],
        env: parseEnvPairs(flags.env),
        workingDirectory: flags.workingDirectory,
        startCommand: flags.startCommand,
        ttlSeconds,
        network: flags.network,
        ...parseMachineSize(flags),
        volumes: flags.volume,
        cwd,
        slug: flags.slug,
        setupHooks: flags.setupHook,
        health: healthOf(flags),
      },
      stderrReporter(io, flags.quiet || json || flags.printId),
    );
    if (json) printJson(io, { id: info.id, name: info.name, status: info.status, backend: info.backend, port_mappings: info.port_mappings, created: info.created });
    else print(io, flags.printId || flags.quiet ? info.id : `ID: ${info.id}`);
  },
});
