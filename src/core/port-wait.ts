// `heyvm wait-for <id> <port>`: polls until the sandbox's port answers — a TCP connection, or with
// a path an HTTP answer below 500 — or the timeout passes. Locally through the port's host
// endpoint when it has one (boot forward or bind), else from inside the sandbox (bash's
// /dev/tcp through its exec recipe); in the cloud through the port's proxy URL.
import { connect } from "node:net";
import { request } from "node:http";
import { spawn } from "node:child_process";
import { TimeoutError, UserError } from "../shared/errors.js";
import type { HeyoHome } from "../state/home.js";
import type { SandboxEntry } from "./catalog.js";
import { execCommandFor } from "./attach.js";
import { portBindings } from "./port-binds.js";

export interface WaitRequest {
  port: number;
  /** HTTP path to ask (GET); without it a TCP connection is enough. */
  path?: string;
  timeoutMs: number;
}

export interface WaitResult {
  port: number;
  ready: true;
  /** The HTTP status, when a path was asked. */
  http_status: number | null;
  elapsed_ms: number;
}

const POLL_MS = 250;
const ATTEMPT_MS = 3000;

type Probe = () => Promise<number | null | false>;

function hostProbe(port: number, path: string | undefined): Probe {
  return () =>
    new Promise((resolve) => {
      if (path === undefined) {
        const socket = connect(port, "127.0.0.1");
        socket.setTimeout(ATTEMPT_MS, () => socket.destroy());
        socket.once("connect", () => {
          socket.destroy();
          resolve(null);
        });
        socket.once("error", () => resolve(false));
        socket.once("close", () => resolve(false));
        return;
      }
      const req = request({ host: "127.0.0.1", port, path, method: "GET", timeout: ATTEMPT_MS }, (res) => {
        res.resume();
        resolve(res.statusCode !== undefined && res.statusCode < 500 ? res.statusCode : false);
      });
      req.once("timeout", () => req.destroy());
      req.once("error", () => resolve(false));
      req.end();
    });
}

// $1 port, $2 path or empty: exit 0 and print the status line when it answers
const INSIDE_PROBE = `exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1; [ -z "$2" ] && exit 0; printf 'GET %s HTTP/1.0\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' "$2" >&3; IFS= read -r line <&3; printf '%s\\n' "$line"`;

function insideProbe(entry: SandboxEntry, port: number, path: string | undefined): Probe {
  return async () => {
    const command = await execCommandFor(entry, ["bash", "-c", INSIDE_PROBE, "heyvm-wait", String(port), path ?? ""], { tty: false });
    return new Promise((resolve) => {
      const child = spawn(command.file, command.args, { env: command.env ?? process.env, stdio: ["ignore", "pipe", "ignore"] });
      let out = "";
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (chunk: string) => (out += chunk.slice(0, 200)));
      const timer = setTimeout(() => child.kill("SIGKILL"), ATTEMPT_MS);
      child.on("error", () => resolve(false));
      child.on("close", (code) => {
        clearTimeout(timer);
        if (code !== 0) return resolve(false);
        if (path === undefined) return resolve(null);
        const status = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(out)?.[1];
        resolve(status !== undefined && Number(status) < 500 ? Number(status) : false);
      });
    });
  };
}

async function poll(probe: Probe, request: WaitRequest, what: string): Promise<WaitResult> {
  const started = performance.now();
  for (;;) {
    const answer = await probe();
    if (answer !== false) return { port: request.port, ready: true, http_status: answer, elapsed_ms: Math.round(performance.now() - started) };
    if (performance.now() - started > request.timeoutMs) {
      throw new TimeoutError(`${what} did not answer${request.path !== undefined ? ` HTTP GET ${request.path} (below 500)` : " a TCP connection"} within ${Math.round(request.timeoutMs / 1000)} s`, "is the service started? see `heyvm logs`, or give a longer --timeout");
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

export async function waitForLocalPort(entry: SandboxEntry, request: WaitRequest): Promise<WaitResult> {
  const exposed = (await portBindings(entry)).find((b) => b.port === request.port && b.active);
  const probe = exposed ? hostProbe(exposed.host_port, request.path) : insideProbe(entry, request.port, request.path);
  return poll(probe, request, `port ${request.port} of ${entry.spec.id}`);
}

export async function waitForCloudPort(home: HeyoHome, id: string, request: WaitRequest): Promise<WaitResult> {
  const [{ cloudClientFor }, { resolveToken, resolveCloudUrl }] = await Promise.all([import("./cloud-sandboxes.js"), import("../cloud/credentials.js")]);
  const deployment = await cloudClientFor(home).getDeployment(id);
  const endpoint = deployment.urls.find((u) => u.port === request.port);
  if (!endpoint) throw new UserError(`port ${request.port} of ${id} has no endpoint`, { hint: `expose it first: heyvm bind ${id} ${request.port}` });
  const token = resolveToken(home);
  // the path form on the API's own address (/p/<endpoint>/…): an endpoint's own host name
  // (<endpoint>.localhost) is not resolved by every client
  const url = `${resolveCloudUrl(home, undefined)}/p/${encodeURIComponent(endpoint.subdomain)}${request.path ?? "/"}`;
  const probe: Probe = async () => {
    try {
      const response = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(ATTEMPT_MS), redirect: "manual" });
      await response.body?.cancel();
      return response.status < 500 ? (request.path !== undefined ? response.status : null) : false;
    } catch {
      return false;
    }
  };
  return poll(probe, request, `port ${request.port} of ${id}`);
}
