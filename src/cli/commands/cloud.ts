// login, logout and the self-hostable cloud server (`heyvm server`, `heyvm server token …`).
import type { Command } from "commander";
import { AuthError, UserError } from "../../shared/errors.js";
import { heyoHome } from "../../state/home.js";
import { print, printJson, type CliIO } from "../io.js";
import { age, table } from "../render.js";

/** Reads a secret from the terminal without echoing it; from piped stdin, the first line. */
function promptSecret(io: CliIO, question: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    return new Promise((resolve) => {
      let text = "";
      stdin.setEncoding("utf8");
      stdin.on("data", (chunk: string) => (text += chunk));
      stdin.on("end", () => resolve(text.split("\n")[0]?.trim() ?? ""));
    });
  }
  io.stderr.write(question);
  return new Promise((resolve, reject) => {
    let text = "";
    stdin.setRawMode(true);
    stdin.setEncoding("utf8");
    const done = (error?: Error) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      io.stderr.write("\n");
      if (error) reject(error);
      else resolve(text.trim());
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === "\r" || char === "\n" || char === "\u0004") return done();
        if (char === "\u0003") return done(new UserError("login cancelled"));
        if (char === "\u007f" || char === "\b") text = text.slice(0, -1);
        else text += char;
      }
    };
    stdin.on("data", onData);
    stdin.resume();
  });
}

interface ServerFlags {
  listen: string;
  dataDir?: string;
  publicUrl?: string;
  maxUploadMb?: string;
  images?: string;
  sweepMs?: string;
}

function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value) ?? /^()()(\d+)$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UserError(`--listen takes HOST:PORT (e.g. 127.0.0.1:8787), not "${value}"`);
  }
  return { host: match[1] || match[2] || "127.0.0.1", port };
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
  if (flags.sweepMs) config.sweepMs = positive("--sweep-ms", flags.sweepMs);
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

async function openStore(dataDir: string | undefined) {
  const { ServerData, defaultDataDir } = await import("../../server/config.js");
  const { Store } = await import("../../server/store.js");
  const data = new ServerData(dataDir ?? defaultDataDir());
  data.ensure();
  return new Store(data.database);
}

export function registerCloudCommands(program: Command, io: CliIO, setExitCode: (code: number) => void): void {
  program
    .command("login")
    .description("store a cloud API token (~/.heyo/token.json, mode 0600); prompts for it unless given")
    .option("--api-key <token>", "the API token (default: $HEYO_API_KEY, else a prompt)")
    .option("--cloud-url <url>", "the cloud's address, remembered in the config")
    .option("--no-verify", "store the token without checking it against the cloud")
    .action(async (flags: { apiKey?: string; cloudUrl?: string; verify: boolean }) => {
      const { normalizeCloudUrl, resolveCloudUrl, saveCloudUrl, saveToken } = await import("../../cloud/credentials.js");
      const home = heyoHome();
      const cloudUrl = flags.cloudUrl ? normalizeCloudUrl(flags.cloudUrl) : undefined;
      const token = flags.apiKey ?? process.env.HEYO_API_KEY ?? (await promptSecret(io, "API token: "));
      if (!token || /\s/.test(token)) throw new UserError("no API token given", { hint: "pass --api-key <token>, set HEYO_API_KEY, or type it at the prompt" });
      let verified = false;
      if (flags.verify) {
        let url: string | undefined;
        try {
          url = cloudUrl ?? resolveCloudUrl(home, undefined);
        } catch {
          url = undefined; // no address yet: store the token unverified
        }
        if (url) {
          const { CloudClient } = await import("../../cloud/client.js");
          try {
            await new CloudClient({ baseUrl: url, token }).listDeployments();
          } catch (error) {
            if (error instanceof AuthError) throw new AuthError(`the cloud at ${url} does not accept this token`, "check the token (an operator makes one with `heyvm server token create`)");
            throw error;
          }
          verified = true;
        }
      }
      saveToken(home, token);
      if (cloudUrl) saveCloudUrl(home, cloudUrl);
      print(io, `logged in${verified ? "" : " (token not checked: no cloud address yet)"}; token saved to ${home.tokenFile}`);
    });

  program
    .command("logout")
    .description("forget the stored cloud API token")
    .action(async () => {
      const { forgetToken } = await import("../../cloud/credentials.js");
      const home = heyoHome();
      print(io, forgetToken(home) ? `logged out (removed ${home.tokenFile})` : "not logged in");
    });

  const server = program
    .command("server")
    .description("run the self-hostable heyvm cloud (the API `--deploy` talks to) on this host")
    .option("--listen <host:port>", "address to serve on", "127.0.0.1:8787")
    .option("--data-dir <dir>", "where state, archives and sandboxes live (default $HEYVM_SERVER_DATA or ~/.heyo/server)")
    .option("--public-url <url>", "the address clients reach this server at (for upload and port URLs)")
    .option("--max-upload-mb <n>", "largest workspace archive accepted (default 2048)")
    .option("--images <file>", "JSON image catalog: {\"bubblewrap\": {\"ubuntu:24.04\": null}, …}")
    .option("--sweep-ms <n>", "how often TTLs and liveness are checked (default 1000)")
    .addHelpText("after", "\nTokens:\n  heyvm server token create --name alice   prints a new API token (shown once)\n  heyvm server token list\n  heyvm server token revoke <tok-id>")
    .action(async (flags: ServerFlags) => {
      setExitCode(await runServer(io, flags));
    });

  const token = server.command("token").description("manage the server's API tokens");
  token
    .command("create")
    .description("make a new API token and print it (only its hash is stored)")
    .option("--name <name>", "who or what the token is for", "default")
    .option("--data-dir <dir>", "the server's data folder")
    .option("--json", "print JSON")
    .action(async (flags: { name: string; dataDir?: string; json?: boolean }) => {
      const { createToken } = await import("../../server/tokens.js");
      const store = await openStore(flags.dataDir);
      try {
        const created = createToken(store, flags.name);
        if (flags.json) printJson(io, created);
        else {
          io.stderr.write(`created ${created.id} (${created.name}); the token is shown only now:\n`);
          print(io, created.token);
        }
      } finally {
        store.close();
      }
    });
  token
    .command("list")
    .description("list API tokens (ids and names, never the secrets)")
    .option("--data-dir <dir>", "the server's data folder")
    .option("--json", "print JSON")
    .action(async (flags: { dataDir?: string; json?: boolean }) => {
      const store = await openStore(flags.dataDir);
      try {
        const rows = store.tokens().map((t) => ({ id: t.id, name: t.name, createdAt: t.created_at, revokedAt: t.revoked_at }));
        if (flags.json) printJson(io, rows);
        else if (rows.length === 0) print(io, "no tokens (make one with `heyvm server token create`)");
        else print(io, table(["ID", "NAME", "CREATED", "STATE"], rows.map((r) => [r.id, r.name, `${age(r.createdAt)} ago`, r.revokedAt ? "revoked" : "active"])));
      } finally {
        store.close();
      }
    });
  token
    .command("revoke")
    .description("revoke an API token (effective on its next request)")
    .argument("<id>", "token id (tok-…) or name")
    .option("--data-dir <dir>", "the server's data folder")
    .action(async (query: string, flags: { dataDir?: string }) => {
      const { revokeToken } = await import("../../server/tokens.js");
      const store = await openStore(flags.dataDir);
      try {
        const revoked = revokeToken(store, query);
        print(io, `revoked ${revoked.id} (${revoked.name})`);
      } finally {
        store.close();
      }
    });
}
