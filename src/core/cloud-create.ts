// `heyvm create --cloud`: a cloud sandbox without a worktree (an empty /workspace), created
// through the cloud API and waited for; `--slug` returns an existing one of that name instead,
// `--port` exposes ports (public unless --private), `--setup-hook` commands run once it runs
// (in the cloud the start command, part of the deployment, may already run by then) and
// `--health-path` waits for the first port's URL.
import { OperationFailedError, UserError } from "../shared/errors.js";
import type { Reporter } from "../shared/reporter.js";
import type { HeyoHome } from "../state/home.js";
import { REGIONS, SIZE_CLASSES, type Deployment, type Region, type SizeClass } from "../cloud/schema.js";
import { cloudClientFor } from "./cloud-sandboxes.js";
import { DEFAULT_DEPLOY_DRIVER, DEFAULT_DEPLOY_IMAGE, DEFAULT_DEPLOY_REGION, waitUntilRunning } from "./deploy.js";
import { waitForCloudPort } from "./port-wait.js";

export interface CloudCreateRequest {
  name?: string;
  /** --slug: an existing sandbox of this name is the answer. */
  getExisting: boolean;
  image?: string;
  driver?: string;
  region?: string;
  sizeClass?: string;
  ports: number[];
  isPrivate: boolean;
  env: Record<string, string>;
  workingDirectory?: string;
  startCommand?: string;
  ttlSeconds?: number;
  setupHooks: string[];
  health?: { port: number; path: string };
}

/** How long the first start may take (a VM driver may build its image first). */
const START_TIMEOUT_MS = 30 * 60_000;
const HEALTH_TIMEOUT_MS = 120_000;
const HOOK_TIMEOUT_SECONDS = 3600;

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], fallback: T, flag: string): T {
  if (value === undefined) return fallback;
  const found = allowed.find((a) => a.toLowerCase() === value.toLowerCase());
  if (!found) throw new UserError(`${flag} takes ${allowed.join(", ")}, not "${value}"`);
  return found;
}

export async function createCloudSandbox(home: HeyoHome, request: CloudCreateRequest, reporter: Reporter): Promise<{ deployment: Deployment; created: boolean }> {
  const region: Region = oneOf(request.region, REGIONS, DEFAULT_DEPLOY_REGION, "--region");
  const sizeClass: SizeClass = oneOf(request.sizeClass, SIZE_CLASSES, "small", "--size-class");
  const client = cloudClientFor(home);
  if (request.getExisting && request.name) {
    const existing = (await client.listDeployments()).find((d) => d.name === request.name);
    if (existing) return { deployment: existing, created: false };
  }
  reporter.progress(`creating the cloud sandbox (${request.driver ?? DEFAULT_DEPLOY_DRIVER}, ${request.image ?? DEFAULT_DEPLOY_IMAGE}, ${region})`);
  const created = await client.deploy({
    region,
    image: request.image ?? DEFAULT_DEPLOY_IMAGE,
    size_class: sizeClass,
    open_ports: request.ports,
    driver: request.driver ?? DEFAULT_DEPLOY_DRIVER,
    ...(request.name ? { name: request.name } : {}),
    ...(request.startCommand ? { start_command: request.startCommand } : {}),
    ...(request.ttlSeconds !== undefined ? { ttl_seconds: request.ttlSeconds } : {}),
    ...(request.workingDirectory ? { working_directory: request.workingDirectory } : {}),
    ...(Object.keys(request.env).length > 0 ? { env_vars: request.env } : {}),
  });
  await waitUntilRunning(client, created.id, START_TIMEOUT_MS, (step) => reporter.progress(step));
  // a deployment's open ports get public endpoints at its start: --private replaces them with private ones
  if (request.isPrivate) {
    for (const port of request.ports) {
      await client.unexposePort(created.id, port).catch(() => undefined);
      await client.exposePort({ sandbox_id: created.id, port, is_public: false });
    }
  }
  for (const hook of request.setupHooks) {
    reporter.progress(`setup hook: ${hook}`);
    const run = await client.execStreamed(created.id, { command: hook, timeout_seconds: HOOK_TIMEOUT_SECONDS });
    if (run.exit_code !== 0) {
      // a failed create leaves nothing behind
      await client.remove(created.id).catch(() => undefined);
      throw new OperationFailedError(`the setup hook "${hook}" failed (exit ${run.exit_code}); the cloud sandbox was removed. Its last output: ${run.output.trim().split("\n").slice(-5).join(" | ")}`, "fix the hook and create again");
    }
  }
  if (request.health) await waitForCloudPort(home, created.id, { port: request.health.port, path: request.health.path, timeoutMs: HEALTH_TIMEOUT_MS });
  return { deployment: await client.getDeployment(created.id), created: true };
}
