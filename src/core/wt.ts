// `heyvm wt <branch>`: the branch's worktree plus a sandbox whose /workspace is that worktree.
// Every check that can fail runs before anything is created; concurrent calls for one branch
// serialise on locks so they end with one worktree, one sandbox record and one owner.
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { chooseDefaultBackend, loadBackend, usableBackend } from "../backends/registry.js";
import type { Backend, Reporter } from "../backends/types.js";
import { configValue, findRepository, type Repository } from "../git/repo.js";
import type { BackendName } from "../shared/backend-name.js";
import { ConflictError, UserError } from "../shared/errors.js";
import { createFileExclusive } from "../shared/safe-fs.js";
import { refuseMachineSize } from "./machine-size.js";
import type { HeyoHome } from "../state/home.js";
import { sandboxStatus } from "../state/status.js";
import { networkMode, networkSetting, writeSpec, type NetworkMode, type SandboxSpec } from "../state/records.js";
import { createSandbox, findByBranch, type SandboxEntry } from "./catalog.js";
import { shellInEntry } from "./attach.js";
import { stopEntry } from "./stop.js";
import { ensureOwner } from "./owner-start.js";
import { withBranchWorktree } from "./worktree.js";
import { gitStoreMounts } from "./git-store.js";
import { isWithin } from "./mount-rules.js";
import { volumeMounts, withVolumes } from "./volumes.js";
import { traceStep } from "../shared/trace.js";

export interface WtRequest {
  branch: string;
  cwd: string;
  path?: string;
  /** -b: a missing branch is made from HEAD, never from a remote branch of that name. */
  createBranch?: boolean;
  backend?: BackendName;
  image?: string;
  /** outbound (the default: its own network, outbound only), none, or host (shares the host's). */
  network: NetworkMode;
  /** --cpus / --memory / --pids; left out: as the sandbox had them (else the default). */
  cpus?: number;
  memoryMiB?: number;
  pids?: number;
  /** The user has a terminal, so the shell gets one too. */
  tty: boolean;
  /** `--volume NAME[:PATH]` (core/volumes.ts). */
  volumes?: string[];
}

export interface WtSandbox {
  entry: SandboxEntry;
  worktree: string;
  createdWorktree: boolean;
  /** True when a live owner was already running it. */
  reused: boolean;
}


async function writeGitIdentity(repo: Repository, home: string): Promise<void> {
  const lines = ["[safe]", "\tdirectory = *"];
  const name = await configValue(repo.top, "user.name");
  const email = await configValue(repo.top, "user.email");
  if (name || email) {
    lines.push("[user]");
    if (name) lines.push(`\tname = ${name}`);
    if (email) lines.push(`\temail = ${email}`);
  }
  mkdirSync(home, { recursive: true });
  // only where there is nothing yet, not even a link the sandbox left there (never followed)
  createFileExclusive(home, ".gitconfig", `${lines.join("\n")}\n`);
}

async function pickBackend(request: WtRequest, existing: SandboxEntry | undefined): Promise<Backend> {
  const name = request.backend ?? existing?.spec.backend;
  const backend = name ? await usableBackend(name) : await chooseDefaultBackend();
  if (request.image && !backend.features.images) throw new UserError(`the ${backend.name} backend does not take --image`);
  if (request.network === "none" && !backend.features.networkIsolation) throw new UserError(`the ${backend.name} backend cannot run without network`);
  refuseMachineSize(backend, request);
  return backend;
}

/** Finds or creates the worktree and the sandbox record for a branch (nothing is started). */
export function ensureWtSandbox(home: HeyoHome, request: WtRequest, reporter: Reporter): Promise<{ sandbox: WtSandbox; backend: Backend }> {
  return withBranchWorktree(home, request, reporter, async (repo, plan, createWorktree) => {
    const existing = findByBranch(home, repo.commonDir, request.branch);
    // A live sandbox on the asked-for backend is reused as it is: no need to probe the host
    // (for libvirt that is a round trip to libvirtd) while every wt of this repository waits.
    const live = existing !== undefined && (await sandboxStatus(existing.dir)).status !== "stopped";
    const reusable = existing && live && (!request.backend || request.backend === existing.spec.backend);
    traceStep(`wt: existing sandbox ${live ? "running" : existing ? "stopped" : "none"}`);
    const backend = reusable ? await loadBackend(existing.spec.backend) : await pickBackend(request, existing);
    const volumes = volumeMounts(home, request.volumes ?? [], backend.name);
    traceStep(`wt: backend ${backend.name} chosen`);
    await createWorktree();
    const wanted = {
      backend: backend.name,
      image: request.image ?? (existing && existing.spec.backend === backend.name ? existing.spec.image : null),
      workspace: resolve(plan.path),
      network: networkSetting(request.network),
      cpus: request.cpus ?? existing?.spec.cpus ?? null,
      memoryMiB: request.memoryMiB ?? existing?.spec.memoryMiB ?? null,
      pids: request.pids ?? existing?.spec.pids ?? null,
    };
    let entry = existing;
    if (entry && live) {
      const differences = [
        entry.spec.backend !== wanted.backend ? `backend ${entry.spec.backend}` : "",
        networkMode(entry.spec) !== request.network ? `network ${networkMode(entry.spec)}` : "",
        (entry.spec.image ?? null) !== (wanted.image ?? null) ? `image ${entry.spec.image ?? "default"}` : "",
        entry.spec.cpus !== wanted.cpus ? `--cpus ${entry.spec.cpus ?? "default"}` : "",
        entry.spec.memoryMiB !== wanted.memoryMiB ? `--memory ${entry.spec.memoryMiB ?? "default"}` : "",
        entry.spec.pids !== wanted.pids ? `--pids ${entry.spec.pids ?? "default"}` : "",
        ...volumes.filter((v) => !entry?.spec.mounts.some((m) => m.host === v.mount.host && m.guest === v.mount.guest)).map((v) => `no volume at ${v.mount.guest}`),
      ].filter(Boolean);
      if (differences.length > 0) {
        throw new ConflictError(`sandbox ${entry.spec.id} for ${request.branch} is running with ${differences.join(", ")}`, `stop it first (heyvm stop ${entry.spec.id}) to start it with other settings`);
      }
    } else if (entry) {
      const own = gitStoreMounts(entry.dir, repo, resolve(plan.path));
      // the user's own mounts (mount-add, volumes) stay; heyvm's are made anew
      const dir = entry.dir;
      const kept = entry.spec.mounts.filter((m) => !own.some((o) => o.guest === m.guest) && !isWithin(m.host, dir.root) && !isWithin(m.host, repo.commonDir));
      const spec: SandboxSpec = withVolumes({ ...entry.spec, ...wanted, mounts: [...own, ...kept] }, volumes);
      writeSpec(entry.dir, spec);
      entry = { dir: entry.dir, spec };
    } else {
      const created = await createSandbox(home, { name: `wt-${plan.slug}`, git: { commonDir: repo.commonDir, branch: request.branch }, ...wanted, mounts: [] });
      // the store's paths name the sandbox's folder, which exists only now
      entry = { dir: created.dir, spec: withVolumes({ ...created.spec, mounts: gitStoreMounts(created.dir, repo, resolve(plan.path)) }, volumes) };
      writeSpec(entry.dir, entry.spec);
      await writeGitIdentity(repo, entry.dir.homePath);
    }
    traceStep("wt: sandbox record ready");
    return { sandbox: { entry, worktree: plan.path, createdWorktree: plan.action.kind === "create", reused: false }, backend };
  });
}


/** `wt --detach`: returns once the sandbox is ready; idempotent for a branch. */
export async function wtDetached(home: HeyoHome, request: WtRequest, reporter: Reporter): Promise<WtSandbox> {
  const { sandbox, backend } = await ensureWtSandbox(home, request, reporter);
  const started = await ensureOwner(home, sandbox.entry, backend, "detached", reporter);
  return { ...sandbox, reused: started.reused };
}

/**
 * `wt` without --detach: a shell in the sandbox; when it exits the sandbox stops (if this call
 * started it). If the terminal dies, the owner notices its pipe close and stops too.
 */
export async function wtAttached(home: HeyoHome, request: WtRequest, reporter: Reporter): Promise<{ sandbox: WtSandbox; exitCode: number }> {
  const { sandbox, backend } = await ensureWtSandbox(home, request, reporter);
  const started = await ensureOwner(home, sandbox.entry, backend, "attached", reporter);
  if (started.reused) {
    reporter.info(`sandbox ${sandbox.entry.spec.id} is already running; it keeps running after this shell`);
    return { sandbox: { ...sandbox, reused: true }, exitCode: await shellInEntry(sandbox.entry, { tty: request.tty }) };
  }
  try {
    return { sandbox, exitCode: await shellInEntry(sandbox.entry, { tty: request.tty }) };
  } finally {
    await stopEntry(home, sandbox.entry);
    started.owner.child.stdin?.destroy();
  }
}

/** `wt <branch> --shell`: a shell in the branch's running sandbox. */
export async function wtShell(home: HeyoHome, branch: string, cwd: string, tty: boolean): Promise<number> {
  const repo = await findRepository(cwd);
  const entry = findByBranch(home, repo.commonDir, branch);
  if (!entry) throw new UserError(`branch ${branch} has no sandbox yet`, { hint: `create one with \`heyvm wt ${branch} --detach\``, exitCode: 3 });
  return shellInEntry(entry, { tty }, 120_000);
}
