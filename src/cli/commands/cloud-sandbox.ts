// Cloud (dep-…) counterparts of sh, exec, stop, logs and list: the same output shapes as the
// local commands, over the cloud client.
import { shellQuote } from "../../shared/shell-quote.js";
import { heyoHome } from "../../state/home.js";
import type { CloudClient } from "../../cloud/client.js";
import { print, printJson, type CliIO } from "../io.js";
import { table } from "../render.js";

async function client(): Promise<{ client: CloudClient; token: string }> {
  const { resolveCloudUrl, resolveToken } = await import("../../cloud/credentials.js");
  const { CloudClient } = await import("../../cloud/client.js");
  const home = heyoHome();
  const token = resolveToken(home, "general");
  return { client: new CloudClient({ baseUrl: resolveCloudUrl(home, undefined), token }), token };
}


export async function cloudShell(io: CliIO, id: string): Promise<number> {
  const { client: cloud, token } = await client();
  const { CloudShell } = await import("../../cloud/shell-client.js");
  const stdin = process.stdin;
  const out = process.stdout;
  const tty = stdin.isTTY === true;
  const size = () => ({ cols: out.columns || 80, rows: out.rows || 24 });
  const shell = new CloudShell(
    { url: cloud.shellUrl(id), token, ...size() },
    {
      output: (data) => io.stdout.write(data),
      reconnecting: (attempt) => io.stderr.write(`\r\n[heyvm: connection to ${id} lost, reconnecting (attempt ${attempt})…]\r\n`),
      reconnected: () => io.stderr.write(`[heyvm: reconnected]\r\n`),
    },
  );
  await shell.open();
  const onData = (chunk: Buffer) => shell.write(chunk);
  const onEnd = () => {
    if (!tty) shell.write(Buffer.from([4])); // end of piped input: ^D to the remote shell
  };
  const onResize = () => {
    const { cols, rows } = size();
    shell.resize(cols, rows);
  };
  if (tty) stdin.setRawMode(true);
  stdin.on("data", onData);
  stdin.on("end", onEnd);
  stdin.resume();
  process.on("SIGWINCH", onResize);
  try {
    return await shell.done;
  } finally {
    process.off("SIGWINCH", onResize);
    stdin.off("data", onData);
    stdin.off("end", onEnd);
    if (tty) stdin.setRawMode(false);
    stdin.pause();
  }
}

export async function cloudExec(io: CliIO, id: string, command: string[], options: { cwd?: string; env: Record<string, string> }): Promise<number> {
  const { client: cloud } = await client();
  const result = await cloud.exec(id, { command: command.map(shellQuote).join(" ") /* the cloud runs it with sh -c */, ...(options.cwd ? { cwd: options.cwd } : {}), ...(Object.keys(options.env).length ? { env: options.env } : {}) });
  io.stdout.write(result.stdout);
  io.stderr.write(result.stderr);
  return result.exit_code;
}

export async function cloudStop(io: CliIO, id: string, json: boolean): Promise<void> {
  const { client: cloud } = await client();
  const before = await cloud.getDeployment(id);
  const after = await cloud.stop(id);
  const wasRunning = before.status === "running" || before.status === "provisioning";
  if (json) printJson(io, { id: after.id, name: after.name, wasRunning, status: after.status });
  else print(io, wasRunning ? `stopped ${after.id} (${after.name})` : `${after.id} (${after.name}) was not running`);
}

export async function cloudLogs(io: CliIO, id: string, options: { follow: boolean; lines: number } = { follow: false, lines: 200 }): Promise<void> {
  const { client: cloud } = await client();
  let offset = 0;
  for (let first = true; ; first = false) {
    const chunk = await cloud.logs(id, offset, first ? options.lines : 0);
    if (chunk.text) io.stdout.write(chunk.text);
    offset = chunk.offset;
    if (!options.follow || (!chunk.running && !chunk.text)) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

function duration(seconds: number | null): string {
  if (seconds === null) return "-";
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

export async function cloudList(io: CliIO, json: boolean): Promise<void> {
  const { client: cloud } = await client();
  const rows = await cloud.listDeployments();
  if (json) return printJson(io, rows);
  if (rows.length === 0) return print(io, "no cloud sandboxes");
  print(
    io,
    table(
      ["ID", "NAME", "STATE", "DRIVER", "IMAGE", "REGION", "UPTIME", "TTL", "URLS / ERROR"],
      rows.map((r) => [r.id, r.name, r.status, r.driver ?? "-", r.image, r.region, duration(r.uptime_secs), r.ttl_seconds ? `${r.ttl_seconds}s` : "-", r.urls.join(" ") || r.error_message || ""]),
    ),
  );
}

