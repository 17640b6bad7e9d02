// `heyvm create`: a sandbox that is not tied to a worktree (heyvm's scripting dialect). Its
// /workspace is the first --mount's host folder, or an empty folder of its own; it runs
// detached from the start, like `wt --detach`.
import { existsSync, mkdirSync, statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { chooseDefaultBackend, usableBackend } from "../backends/registry.js";
import type { Reporter } from "../backends/types.js";
import type { BackendName } from "../shared/backend-name.js";
import { ConflictError, NotFoundError, OperationFailedError, UserError } from "../shared/errors.js";
import { refuseMachineSize } from "./machine-size.js";
import type { HeyoHome } from "../state/home.js";
import type { ExtraMount } from "../state/records.js";
import { allSandboxes, createSandbox, viewOf } from "./catalog.js";
import { execCommandFor } from "./attach.js";
import { removeEntry } from "./lifecycle.js";
import { ensureOwner } from "./owner-start.js";
import { sandboxInfo, type SandboxInfo } from "./sandbox-info.js";
import { spawnLoggedDetached } from "./start-command.js";
import { volumeMounts, withVolumes } from "./volumes.js";

export const WORKSPACE = "/workspace";

export interface PortRequest {
  guest: number;
  /** The host port asked for; null lets heyvm choose. */
  host: number | null;
}

export interface CreateRequest {
  name?: string;
  image?: string;
  backend?: BackendName;
  mounts: ExtraMount[];
  ports: PortRequest[];
  env: Record<string, string>;
  workingDirectory?: string;
  startCommand?: string;
  ttlSeconds: number | null;
  network: boolean;
  /** --cpus / --memory / --pids (core/machine-size.ts says which backend takes which). */
  cpus?: number;
  memoryMiB?: number;
  pids?: number;
  /** `--volume NAME[:PATH]` (core/volumes.ts). */
  volumes?: string[];
  cwd: string;
  /** --slug: get-or-create by this name (an existing sandbox of the name is the answer). */
  slug?: string;
  /** Run once (sh -c, in order) after the first start, before the start command. */
  setupHooks?: string[];
  /** Wait after the start until this port answers HTTP GET path. */
  health?: { port: number; path: string };
}

/** What create returns: the sandbox, and whether this call made it (false: --slug found it). */
export type CreatedSandbox = SandboxInfo & { created: boolean };

const HOOK_OUTPUT_BYTES = 64 * 1024;
const HEALTH_TIMEOUT_MS = 120_000;

/** `HOST:SANDBOX[:ro]`. */
export function parseMount(text: string, cwd: string): ExtraMount {
  const parts = text.split(":");
  const readOnly = parts.length === 3 && parts[2] === "ro";
  if (parts.length < 2 || parts.length > 3 || (parts.length === 3 && !readOnly) || !parts[0] || !parts[1]) {
    throw new UserError(`--mount takes HOST:SANDBOX or HOST:SANDBOX:ro, not "${text}"`);
  }
  const host = resolve(cwd, parts[0]);
  if (!isAbsolute(parts[1])) throw new UserError(`the sandbox side of --mount must be an absolute path, not "${parts[1]}"`);
  if (!existsSync(host) || !statSync(host).isDirectory()) throw new NotFoundError(`--mount ${text}: ${host} is not a folder`);
  return { host, guest: parts[1], readOnly };
}

/** `[host:]guest`. */
export function parsePort(text: string): PortRequest {
  const match = /^(?:(\d+):)?(\d+)$/.exec(text.trim());
  const port = (value: string | undefined) => (value === undefined ? null : Number(value));
  const host = port(match?.[1]);
  const guest = port(match?.[2]);
  const valid = (n: number | null) => n === null || (Number.isInteger(n) && n > 0 && n < 65536);
  if (!match || guest === null || !valid(host) || !valid(guest)) throw new UserError(`--open-port takes [HOST:]GUEST port numbers, not "${text}"`);
  return { guest, host };
}

async function launchStartCommand(entry: Awaited<ReturnType<typeof createSandbox>>, command: string): Promise<void> {
  const spawnSpec = await execCommandFor(entry, ["sh", "-c", command], { tty: false });
  spawnLoggedDetached(spawnSpec.file, spawnSpec.args, spawnSpec.env ?? process.env, entry.dir.logPath);
}

/** Runs the setup hooks in the sandbox that just started; the first that fails is the create's error. */
async function runSetupHooks(entry: Awaited<ReturnType<typeof createSandbox>>, hooks: readonly string[], reporter: Reporter): Promise<void> {
  const { captureInWorkspaceSandbox } = await import("./workspace-sandbox.js");
  for (const hook of hooks) {
    reporter.progress(`setup hook: ${hook}`);
    const run = await captureInWorkspaceSandbox(entry, ["sh", "-c", hook], { cwd: entry.spec.workingDirectory ?? undefined, env: entry.spec.env, maxOutputBytes: HOOK_OUTPUT_BYTES });
    if (run.exitCode !== 0) {
      const tail = run.output.trim().split("\n").slice(-5).join(" | ");
      throw new OperationFailedError(`the setup hook "${hook}" failed (exit ${run.exitCode}); nothing was kept. Its last output: ${tail}`, "fix the hook and create again");
    }
  }
}

export async function createStandalone(home: HeyoHome, request: CreateRequest, reporter: Reporter): Promise<CreatedSandbox> {
  if (request.slug !== undefined) {
    if (request.name !== undefined && request.name !== request.slug) throw new UserError("--slug is the name: give one of --slug and --name");
    const existing = allSandboxes(home).find((e) => e.spec.name === request.slug);
    if (existing) return { ...(await sandboxInfo(await viewOf(existing))), created: false };
    request = { ...request, name: request.slug };
  }
  if (request.name !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(request.name)) {
    throw new UserError(`"${request.name}" is not a usable sandbox name`, { hint: "use letters, digits, '.', '_' and '-' (at most 63)" });
  }
  if (request.name?.startsWith("sb-")) throw new UserError(`a name may not start with "sb-" (that is how ids look)`);
  if (request.name && allSandboxes(home).some((e) => e.spec.name === request.name)) {
    throw new ConflictError(`a sandbox named ${request.name} exists already`, "choose another --name, or remove it with `heyvm rm <id> -y`");
  }
  const backend = request.backend ? await usableBackend(request.backend) : await chooseDefaultBackend();
  if (request.image && !backend.features.images) throw new UserError(`the ${backend.name} backend does not take --image`);
  if (!request.network && !backend.features.networkIsolation) throw new UserError(`the ${backend.name} backend cannot run without network`);
  refuseMachineSize(backend, request);
  const [first, ...others] = request.mounts;
  const extra = [...(first && first.guest !== WORKSPACE ? [first] : []), ...others];
  if (extra.some((m) => m.guest === WORKSPACE)) throw new UserError("only the first --mount can be /workspace");
  if (extra.length > 0 && backend.features.virtualMachine) {
    throw new UserError(`the ${backend.name} backend shares /workspace only`, { hint: "give one --mount (it becomes /workspace), or use --backend bubblewrap for more" });
  }
  const volumes = volumeMounts(home, request.volumes ?? [], backend.name);
  const hostPorts: Record<string, number> = {};
  for (const port of request.ports) if (port.host !== null) hostPorts[String(port.guest)] = port.host;
  const entry = await createSandbox(home, {
    name: request.name ?? "",
    backend: backend.name,
    image: request.image ?? null,
    workspace: first?.host ?? "",
    git: null,
    mounts: extra,
    network: request.network,
    ports: [...new Set(request.ports.map((p) => p.guest))],
    hostPorts,
    env: request.env,
    workingDirectory: request.workingDirectory ?? null,
    startCommand: request.startCommand ?? null,
    ttlSeconds: request.ttlSeconds,
    cpus: request.cpus ?? null,
    memoryMiB: request.memoryMiB ?? null,
    pids: request.pids ?? null,
  });
  if (!first || !request.name) {
    // an empty workspace of its own, and the id as its name, once the id is known
    const { writeSpec } = await import("../state/records.js");
    const workspace = first ? first.host : `${entry.dir.root}/workspace`;
    if (!first) mkdirSync(workspace, { recursive: true });
    entry.spec = { ...entry.spec, name: request.name ?? entry.spec.id, workspace };
    writeSpec(entry.dir, entry.spec);
  }
  if (volumes.length > 0) {
    const { writeSpec } = await import("../state/records.js");
    entry.spec = withVolumes(entry.spec, volumes);
    writeSpec(entry.dir, entry.spec);
  }
  try {
    await ensureOwner(home, entry, backend, "detached", reporter);
    if (request.setupHooks?.length) await runSetupHooks(entry, request.setupHooks, reporter);
  } catch (error) {
    // a create that did not start (an image that does not exist, a boot that failed) or whose setup failed leaves nothing behind
    await removeEntry(home, entry, { worktree: false, force: false }).catch(() => undefined);
    throw error;
  }
  if (entry.spec.startCommand) await launchStartCommand(entry, entry.spec.startCommand);
  if (request.health) {
    const { waitForLocalPort } = await import("./port-wait.js");
    reporter.progress(`waiting for port ${request.health.port} to answer GET ${request.health.path}`);
    await waitForLocalPort(entry, { port: request.health.port, path: request.health.path, timeoutMs: HEALTH_TIMEOUT_MS });
  }
  return { ...(await sandboxInfo(await viewOf(entry))), created: true };
}
