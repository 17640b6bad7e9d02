// `heyvm wt <branch> --deploy` (workspace sync): the branch's worktree, found or created as the
// local `wt` does, is archived, uploaded through a presigned URL, and started as a cloud sandbox;
// returns once the cloud says it runs. No local sandbox is started.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Reporter } from "../backends/types.js";
import type { CloudClient, UploadProgress } from "../cloud/client.js";
import { packWorkspace, workspaceFiles, type WorkspaceArchive } from "../cloud/archive.js";
import type { Deployment, Region } from "../cloud/schema.js";
import { OperationFailedError, TimeoutError } from "../shared/errors.js";
import type { HeyoHome } from "../state/home.js";
import { findByBranch } from "./catalog.js";
import { withBranchWorktree } from "./worktree.js";

export const DEFAULT_DEPLOY_DRIVER = "libvirt";
export const DEFAULT_DEPLOY_IMAGE = "ubuntu:24.04";
export const DEFAULT_DEPLOY_REGION: Region = "US";

export interface DeployRequest {
  branch: string;
  cwd: string;
  path?: string;
  driver: string;
  image: string;
  region: Region;
  ttlSeconds?: number;
  ports: number[];
  /** Respect .gitignore and skip dependency folders (false: --no-ignore). */
  ignore: boolean;
  /** How long to wait for the sandbox to run (VM drivers boot slowly). */
  startTimeoutMs?: number;
}

export interface DeployHooks {
  reporter: Reporter;
  onUploadProgress?: UploadProgress;
}

export interface DeployTimings {
  archiveMs: number;
  uploadMs: number;
  startMs: number;
}

export interface DeployResult {
  deployment: Deployment;
  worktree: string;
  createdWorktree: boolean;
  archive: Omit<WorkspaceArchive, "path">;
  timings: DeployTimings;
}

/** Finds or creates the branch's worktree exactly like local `wt` (the same step, same lock). */
function ensureWorktree(home: HeyoHome, request: DeployRequest, reporter: Reporter) {
  return withBranchWorktree(home, request, reporter, async (repo, plan, create) => {
    await create();
    return { plan, localId: findByBranch(home, repo.commonDir, request.branch)?.spec.id };
  });
}

/**
 * Polls the cloud until the sandbox runs; a failed or stopped one is an error with its reason.
 * Each new provisioning step the cloud reports (its first boot may build the VM image) goes to onStep.
 */
export async function waitUntilRunning(client: CloudClient, id: string, timeoutMs: number, onStep: (step: string) => void = () => undefined, pollMs = 250): Promise<Deployment> {
  const deadline = Date.now() + timeoutMs;
  let lastStep: string | null | undefined;
  for (;;) {
    const deployment = await client.getDeployment(id);
    if (deployment.progress && deployment.progress !== lastStep) onStep(deployment.progress);
    lastStep = deployment.progress ?? lastStep;
    if (deployment.status === "running") return deployment;
    if (deployment.status === "failed" || deployment.status === "stopped") {
      throw new OperationFailedError(`cloud sandbox ${id} ${deployment.status}: ${deployment.error_message ?? "no reason given"}`, `see \`heyvm logs ${id}\``);
    }
    if (Date.now() > deadline) throw new TimeoutError(`cloud sandbox ${id} was not running after ${Math.round(timeoutMs / 1000)} s (still ${deployment.status})`, `see \`heyvm logs ${id}\``);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

export async function deployWorktree(home: HeyoHome, client: CloudClient, request: DeployRequest, hooks: DeployHooks): Promise<DeployResult> {
  const { reporter } = hooks;
  const { plan, localId } = await ensureWorktree(home, request, reporter);
  const name = `wt-${plan.slug}`;
  const scratch = mkdtempSync(join(tmpdir(), "heyvm-deploy-"));
  try {
    let mark = performance.now();
    reporter.progress(`archiving ${plan.path}${request.ignore ? "" : " (--no-ignore: everything but .git)"}`);
    const files = await workspaceFiles(plan.path, { ignore: request.ignore });
    const archive = await packWorkspace(plan.path, files, join(scratch, "workspace.tar.gz"), { ignore: request.ignore });
    const archiveMs = performance.now() - mark;

    mark = performance.now();
    const presigned = await client.presignArchive({ name, size_bytes: archive.sizeBytes });
    await client.uploadArchive(presigned.upload_url, archive.path, archive.sizeBytes, hooks.onUploadProgress);
    await client.finalizeArchive(presigned.archive_id, { sandbox_id: localId ?? name, name });
    const uploadMs = performance.now() - mark;

    mark = performance.now();
    reporter.progress(`creating the cloud sandbox (${request.driver}, ${request.image}, ${request.region})`);
    const created = await client
      .deploy({
      region: request.region,
      image: request.image,
      size_class: "small",
      open_ports: request.ports,
      driver: request.driver,
      name,
      archive_id: presigned.archive_id,
      working_directory: "/workspace",
      ...(request.ttlSeconds === undefined ? {} : { ttl_seconds: request.ttlSeconds }),
      })
      .catch(async (error: unknown) => {
        await client.deleteArchive(presigned.archive_id).catch(() => undefined); // refused: do not leave it on the cloud
        throw error;
      });
    reporter.progress(`waiting for ${created.id} to run`);
    const deployment = await waitUntilRunning(client, created.id, request.startTimeoutMs ?? 900_000, (step) => reporter.progress(`${created.id}: ${step}`));
    const startMs = performance.now() - mark;
    // unpacked into the sandbox's own workspace now; the upload is not needed on the cloud any more
    await client.deleteArchive(presigned.archive_id).catch(() => undefined);
    const { path: _path, ...summary } = archive;
    return { deployment, worktree: plan.path, createdWorktree: plan.action.kind === "create", archive: summary, timings: { archiveMs, uploadMs, startMs } };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
