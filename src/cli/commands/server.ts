// `heyvm server`: run the self-hostable cloud, and `heyvm server token …` for its API tokens.
import { UserError } from "../../shared/errors.js";
import { defineCommand } from "../command.js";
import { print, printJson, type CliIO } from "../io.js";
import { age, table } from "../render.js";

interface ServerFlags {
  listen: string;
  dataDir?: string;
  publicUrl?: string;
  maxUploadMb?: string;
  maxUnpackedMb?: string;
  maxArchiveEntries?: string;
  maxActive?: string;
  images?: string;
  sweepMs?: string;
  maxImageMb?: string;
  firecrackerImagesOnLibvirt?: boolean;
  maxShellsPerToken?: string;
  maxShells?: string;
  maxExecsPerToken?: string;
  maxExecs?: string;
  maxRelaysPerToken?: string;
  maxRelays?: string;
  execOutputKb?: string;
  shellStallSeconds?: string;
  storageQuotaMb?: string;
  keepStoppedHours?: string;
  domain?: string;
}

function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value) ?? /^()()(\d+)$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UserError(`--listen takes HOST:PORT (e.g. 127.0.0.1:8787), not "${value}"`);
  }
  return { host: match[1] || match[2] || "127.0.0.1", port };
}

/** --domain: a DNS name under which each public endpoint gets its own host name. */
function endpointDomain(value: string): string {
  const domain = value.trim().toLowerCase().replace(/\.$/, "");
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(domain)) throw new UserError(`--domain takes a DNS name (e.g. sandboxes.example.com), not "${value}"`);
  return domain;
}

function positive(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UserError(`${flag} takes a positive number, not "${value}"`);
  return n;
}

async function runServer(io: CliIO, flags: ServerFlags): Promise<number> {
  const { defaultDataDir, defaultServerConfig } = await import("../../server/config.js");
  const config = defaultServerConfig(flags.dataDir ?? defaultDataDir());
  const listen = parseListen(flags.listen);
  config.host = listen.host;
  config.port = listen.port;
  if (flags.publicUrl) config.publicUrl = flags.publicUrl;
  if (flags.maxUploadMb) config.maxUploadBytes = Math.round(positive("--max-upload-mb", flags.maxUploadMb) * 1024 * 1024);
  if (flags.maxUnpackedMb) config.maxExtractedBytes = Math.round(positive("--max-unpacked-mb", flags.maxUnpackedMb) * 1024 * 1024);
  if (flags.maxArchiveEntries) config.maxArchiveEntries = Math.round(positive("--max-archive-entries", flags.maxArchiveEntries));
  if (flags.maxActive) config.maxActivePerToken = Math.round(positive("--max-active", flags.maxActive));
  if (flags.sweepMs) config.sweepMs = positive("--sweep-ms", flags.sweepMs);
  if (flags.maxImageMb) config.maxImageBytes = Math.round(positive("--max-image-mb", flags.maxImageMb) * 1024 * 1024);
  if (flags.firecrackerImagesOnLibvirt) config.firecrackerImagesOnLibvirt = true;
  if (flags.maxShellsPerToken) config.maxShellsPerToken = Math.round(positive("--max-shells-per-token", flags.maxShellsPerToken));
  if (flags.maxShells) config.maxShells = Math.round(positive("--max-shells", flags.maxShells));
  if (flags.maxExecsPerToken) config.maxExecsPerToken = Math.round(positive("--max-execs-per-token", flags.maxExecsPerToken));
  if (flags.maxExecs) config.maxExecs = Math.round(positive("--max-execs", flags.maxExecs));
  if (flags.maxRelaysPerToken) config.maxRelaysPerToken = Math.round(positive("--max-relays-per-token", flags.maxRelaysPerToken));
  if (flags.maxRelays) config.maxRelays = Math.round(positive("--max-relays", flags.maxRelays));
  if (flags.execOutputKb) config.execOutputBytes = Math.round(positive("--exec-output-kb", flags.execOutputKb) * 1024);
  if (flags.shellStallSeconds) config.shellStallMs = positive("--shell-stall-seconds", flags.shellStallSeconds) * 1000;
  if (flags.storageQuotaMb) config.storageQuotaBytes = Math.round(positive("--storage-quota-mb", flags.storageQuotaMb) * 1024 * 1024);
  if (flags.keepStoppedHours) config.keepStoppedSeconds = positive("--keep-stopped-hours", flags.keepStoppedHours) * 3600;
  if (flags.domain) config.domain = endpointDomain(flags.domain);
  if (flags.images) {
    const { loadImageCatalog } = await import("../../server/image-file.js");
    config.images = loadImageCatalog(flags.images);
  }
  const { startCloudServer } = await import("../../server/server.js");
  const log = (line: string) => io.stderr.write(`${line}\n`);
  const server = await startCloudServer(config, log);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  log("shutting down (deployed sandboxes keep running; they are reconciled on the next start)");
  await server.close();
  return 0;
}

const DATA_DIR_OPTION = { flags: "--data-dir <dir>", description: "the server's data folder" };

const createTokenCommand = defineCommand<{ name: string; dataDir?: string; json?: boolean }>({
  name: "create",
  description: "make a new API token and print it (only its hash is stored)",
  options: [{ flags: "--name <name>", description: "who or what the token is for", default: "default" }, DATA_DIR_OPTION, { flags: "--json", description: "print JSON" }],
  async run({ io, flags }) {
    const { createServerToken } = await import("../../server/token-admin.js");
    const created = createServerToken(flags.dataDir, flags.name);
    if (flags.json) return printJson(io, created);
    io.stderr.write(`created ${created.id} (${created.name}); the token is shown only now:\n`);
    print(io, created.token);
  },
});

const listTokensCommand = defineCommand<{ dataDir?: string; json?: boolean }>({
  name: "list",
  description: "list API tokens (ids and names, never the secrets)",
  options: [DATA_DIR_OPTION, { flags: "--json", description: "print JSON" }],
  async run({ io, flags }) {
    const { listServerTokens } = await import("../../server/token-admin.js");
    const rows = listServerTokens(flags.dataDir);
    if (flags.json) printJson(io, rows);
    else if (rows.length === 0) print(io, "no tokens (make one with `heyvm server token create`)");
    else print(io, table(["ID", "NAME", "CREATED", "STATE"], rows.map((r) => [r.id, r.name, `${age(r.createdAt)} ago`, r.revokedAt ? "revoked" : "active"])));
  },
});

const revokeTokenCommand = defineCommand<{ dataDir?: string }>({
  name: "revoke",
  description: "revoke an API token (effective on its next request)",
  arguments: [{ name: "<id>", description: "token id (tok-…) or name" }],
  options: [DATA_DIR_OPTION],
  async run({ io, args: [query], flags }) {
    const { revokeServerToken } = await import("../../server/token-admin.js");
    const revoked = revokeServerToken(flags.dataDir, String(query));
    print(io, `revoked ${revoked.id} (${revoked.name})`);
  },
});

export const serverCommand = defineCommand<ServerFlags>({
  name: "server",
  description: "run the self-hostable heyvm cloud (the API `--deploy` talks to) on this host",
  options: [
    { flags: "--listen <host:port>", description: "address to serve on", default: "127.0.0.1:8787" },
    { flags: "--data-dir <dir>", description: "where state, archives and sandboxes live (default $HEYVM_SERVER_DATA or ~/.heyo/server)" },
    { flags: "--public-url <url>", description: "the address clients reach this server at (for upload and port URLs)" },
    { flags: "--max-upload-mb <n>", description: "largest workspace archive accepted (default 2048)" },
    { flags: "--max-unpacked-mb <n>", description: "largest size an archive may unpack to; more is refused (default 8192)" },
    { flags: "--max-archive-entries <n>", description: "most entries an archive may hold (default 1000000)" },
    { flags: "--max-active <n>", description: "active (provisioning or running) sandboxes per token (default 20)" },
    { flags: "--images <file>", description: 'JSON image catalog: {"bubblewrap": {"ubuntu:24.04": null}, …}' },
    { flags: "--sweep-ms <n>", description: "how often TTLs and liveness are checked (default 1000)" },
    { flags: "--max-image-mb <n>", description: "largest image bundle the image registry takes (default 8192)" },
    { flags: "--firecracker-images-on-libvirt", description: "on a host without Firecracker, run firecracker-format images under libvirt (deployments say so)" },
    { flags: "--max-shells-per-token <n>", description: "concurrent shell sessions per token; more get 429 (default 8)" },
    { flags: "--max-shells <n>", description: "concurrent shell sessions in all (default 128)" },
    { flags: "--max-execs-per-token <n>", description: "concurrent execs per token; more get 429 (default 16)" },
    { flags: "--max-execs <n>", description: "concurrent execs in all (default 64)" },
    { flags: "--max-relays-per-token <n>", description: "concurrent port relays (connections to ports not forwarded at boot, port-forward tunnels) per token; more get 429 (default 16)" },
    { flags: "--max-relays <n>", description: "concurrent port relays in all (default 128)" },
    { flags: "--exec-output-kb <n>", description: "how much of each stream an exec captures; more is cut, marked stdout_truncated (default 1024)" },
    { flags: "--shell-stall-seconds <n>", description: "a shell client that takes no output this long is disconnected (default 60)" },
    { flags: "--storage-quota-mb <n>", description: "disk per token: archives, images, deployments' workspaces (default 10240)" },
    { flags: "--keep-stopped-hours <n>", description: "how long a stopped deployment's workspace is kept before it is removed (default 24)" },
    { flags: "--domain <name>", description: "public endpoints are served as <endpoint>.<name> (default localhost)" },
  ],
  helpAfter: "\nTokens:\n  heyvm server token create --name alice   prints a new API token (shown once)\n  heyvm server token list\n  heyvm server token revoke <tok-id>",
  subcommands: [
    defineCommand({
      name: "token",
      description: "manage the server's API tokens",
      subcommands: [createTokenCommand, listTokensCommand, revokeTokenCommand],
    }),
  ],
  run: ({ io, flags }) => runServer(io, flags),
});
