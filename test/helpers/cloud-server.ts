// Test fixtures for the cloud: a real `heyvm server` child process on 127.0.0.1 (random port,
// temporary data folder), tokens made with `heyvm server token create`, and a clean-up that
// ends the server and every sandbox owner it started, by pid.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HEYVM, isAlive, ownerPids, reapLeftovers, waitFor } from "./env.js";

export interface CloudServer {
  url: string;
  dataDir: string;
  /** The server's own HEYO_HOME, where its sandboxes live. */
  sandboxHome: string;
  child: ChildProcess;
  log(): string;
  /** Ends the server process (SIGTERM, then SIGKILL); its sandboxes keep running. */
  stop(): Promise<void>;
  /** Ends the server and every owner under its data folder. */
  cleanup(): Promise<void>;
}

export function createToken(dataDir: string, name: string): string {
  const result = spawnSync(HEYVM, ["server", "token", "create", "--name", name, "--data-dir", dataDir], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`token create failed: ${result.stderr}`);
  return result.stdout.trim();
}

export function heyvmSync(args: string[], env: NodeJS.ProcessEnv): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(HEYVM, args, { encoding: "utf8", env });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

export async function stopOwners(home: string): Promise<void> {
  const pids = ownerPids(home);
  for (const pid of pids) process.kill(pid, "SIGTERM");
  await waitFor(() => pids.every((pid) => !isAlive(pid)), 20_000, "owners to stop").catch(() => {
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, "SIGKILL");
  });
  reapLeftovers(home);
}

/** Starts `heyvm server` and resolves once it says where it listens. */
/** prefix: argv the server runs under (e.g. `ip netns exec <name>`: it then listens on that namespace's 127.0.0.1). */
/** heyvm: the heyvm to run (another build's bin/heyvm, for a bench's baseline). */
export async function startCloudServer(options: { dataDir?: string; args?: string[]; env?: NodeJS.ProcessEnv; prefix?: string[]; heyvm?: string } = {}): Promise<CloudServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "heyvm-cloud-"));
  const ownsDir = options.dataDir === undefined;
  const [file, ...before] = [...(options.prefix ?? []), options.heyvm ?? HEYVM];
  const child = spawn(file ?? HEYVM, [...before, "server", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--sweep-ms", "200", ...(options.args ?? [])], {
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => (log += d));
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (log += d));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const sandboxHome = join(dataDir, "h");
  const server: CloudServer = {
    url: "",
    dataDir,
    sandboxHome,
    child,
    log: () => log,
    stop,
    async cleanup() {
      await stop();
      await stopOwners(sandboxHome);
      if (ownsDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  try {
    await waitFor(() => /listening on (http:\/\/127\.0\.0\.1:\d+)/.test(log) || child.exitCode !== null, 20_000, "the server to listen");
  } catch (error) {
    await server.cleanup();
    throw error;
  }
  const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
  if (!match?.[1]) {
    await server.cleanup();
    throw new Error(`the server did not start:\n${log}`);
  }
  server.url = match[1];
  return server;
}

/** One API call with a bearer token; returns status and parsed body. */
export async function api(server: { url: string }, token: string | undefined, method: string, path: string, body?: unknown, raw?: string): Promise<{ status: number; json: Record<string, unknown> & { error?: string } }> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined || raw !== undefined ? { "content-type": "application/json" } : {}) },
    body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { text };
  }
  return { status: response.status, json };
}

/** presign → PUT → finalize, as the client does; returns the archive id and finalize's answer. */
export async function uploadArchive(server: { url: string }, token: string, archive: Buffer): Promise<{ archiveId: string; uploadStatus: number; finalize: { status: number; json: Record<string, unknown> & { error?: string } } }> {
  const presign = await api(server, token, "POST", "/sandbox-archives/presign", {});
  if (presign.status !== 200) throw new Error(`presign: ${presign.status} ${JSON.stringify(presign.json)}`);
  const archiveId = String(presign.json.archive_id);
  const upload = await fetch(String(presign.json.upload_url), { method: "PUT", headers: { "content-type": "application/gzip" }, body: archive });
  await upload.text();
  const finalize = await api(server, token, "POST", `/sandbox-archives/${archiveId}/finalize`, { sandbox_id: "test" });
  return { archiveId, uploadStatus: upload.status, finalize };
}

/** Uploads archive, deploys it on bubblewrap (with extra fields) and waits until it runs; its id. */
export async function deployArchive(server: { url: string }, token: string, archive: Buffer, extra: Record<string, unknown> = {}): Promise<string> {
  const { archiveId, finalize } = await uploadArchive(server, token, archive);
  if (finalize.status !== 200) throw new Error(`finalize: ${finalize.status} ${JSON.stringify(finalize.json)}`);
  const created = await api(server, token, "POST", "/sandbox-deploy", { region: "US", image: "ubuntu:24.04", driver: "bubblewrap", archive_id: archiveId, ...extra });
  if (created.status !== 202) throw new Error(`deploy: ${created.status} ${JSON.stringify(created.json)}`);
  const id = String(created.json.id);
  for (const started = Date.now(); Date.now() - started < 60_000; ) {
    const view = await api(server, token, "GET", `/deployed-sandboxes/${id}`);
    if (view.json.status === "running") return id;
    if (view.json.status !== "provisioning") throw new Error(`${id} is ${String(view.json.status)}: ${String(view.json.error_message)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${id} did not come up within 60 s`);
}

/** The server process's resident memory now, in MiB (from /proc/<pid>/status). */
export function serverRssMb(server: CloudServer): number {
  const status = readFileSync(`/proc/${server.child.pid ?? 0}/status`, "utf8");
  return Math.round(Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) / 1024);
}

/**
 * An endpoint's URL (http://<endpoint>.localhost:<port>/, its own origin, which browsers and curl
 * resolve to loopback but node's fetch does not) in the path form the server also answers:
 * http://127.0.0.1:<port>/p/<endpoint>/.
 */
export function loopbackUrl(endpointUrl: string): string {
  const url = new URL(endpointUrl);
  const endpoint = url.hostname.split(".")[0] ?? "";
  return `http://127.0.0.1:${url.port}/p/${endpoint}/`;
}
