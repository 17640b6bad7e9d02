// `heyvm fork <id>`: a new sandbox that starts as a copy of a running or stopped one. A worktree
// sandbox's fork gets a new branch and worktree holding the source's current state, uncommitted
// and untracked changes included (fork-git.ts), and then a git store of its own (made at its
// first start, like any wt sandbox's); its home and disk are copied copy-on-write where the
// backend's format allows (backends/disk-fork.ts). The source is not disturbed: its files, index
// and branch stay; a running source keeps running (a libvirt one moves onto a new overlay).
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { checkForkable, forkSandboxDisks } from "../backends/disk-fork.js";
import { loadBackend } from "../backends/registry.js";
import type { Reporter } from "../backends/types.js";
import { runGit } from "../git/safe-git.js";
import type { Repository } from "../git/repo.js";
import { git } from "../git/repo.js";
import { slugify } from "../git/slug.js";
import { ConflictError, UserError } from "../shared/errors.js";
import { run } from "../shared/run.js";
import type { HeyoHome } from "../state/home.js";
import { withLock } from "../state/lock.js";
import { writeSpec, type SandboxEntry, type SandboxSpec } from "../state/records.js";
import { sandboxStatus } from "../state/status.js";
import { allSandboxes, createSandbox, resolveSandbox, viewOf } from "./catalog.js";
import { forkWorktree } from "./fork-git.js";
import { gitStoreMounts, hostAdminDir, usesGitStore } from "./git-store.js";
import { syncSandboxGit } from "./git-sync.js";
import { removeEntry } from "./lifecycle.js";
import { ensureOwner } from "./owner-start.js";
import { sandboxInfo, type SandboxInfo } from "./sandbox-info.js";
import { planWorktree } from "./worktree.js";

export interface ForkRequest {
  /** The source: id, prefix, name or branch. */
  query: string;
  name?: string;
  /** The fork's branch (a worktree sandbox's); default `<source branch>-fork-<hex>`. */
  branch?: string;
  /** Where the fork's worktree goes (default ../<slug of the branch>). */
  path?: string;
  /** Start the fork: by default it is started when the source runs. */
  start?: boolean;
  /** A sandbox without a branch: the fork's workspace, a copy the caller made (the cloud's own folder per deployment). */
  workspace?: string;
}

/** What `heyvm fork` reports (snake_case, as scripts read it). */
export interface ForkResult extends SandboxInfo {
  source_id: string;
  /** Paths whose content the fork's worktree took from the source's uncommitted state. */
  carried_paths: number;
  /** What the fork shares with the source, and what was copied. */
  disk: string[];
}

const LOCK_WAIT_MS = 120_000;

function checkName(home: HeyoHome, name: string | undefined): void {
  if (name === undefined) return;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name) || name.startsWith("sb-")) {
    throw new UserError(`"${name}" is not a usable sandbox name`, { hint: "use letters, digits, '.', '_' and '-' (at most 63), not starting with sb-" });
  }
  if (allSandboxes(home).some((e) => e.spec.name === name)) throw new ConflictError(`a sandbox named ${name} exists already`, "choose another --name");
}

/** The commit the source's branch is at as its sandbox sees it: a sync first, so the host has its commits. */
async function sourceBase(home: HeyoHome, source: SandboxEntry & { spec: SandboxSpec & { git: NonNullable<SandboxSpec["git"]> } }): Promise<string> {
  const { commonDir, branch } = source.spec.git;
  const synced = usesGitStore(source.dir, source.spec) ? await syncSandboxGit(home, source.dir, source.spec) : { moved: "none" };
  const ref = synced.moved === "kept-aside" ? `refs/heyvm/${source.spec.id}/${branch}` : `refs/heads/${branch}`;
  const tip = await runGit(["--git-dir", commonDir, "rev-parse", "--verify", "-q", `${ref}^{commit}`], { allowFailure: true });
  if (tip.code !== 0) throw new ConflictError(`the branch ${branch} of sandbox ${source.spec.id} has no commit on the host`, "commit once in the source, or recreate its branch");
  return tip.stdout.trim();
}

interface ForkedWorktree {
  branch: string;
  path: string;
  carried: number;
  repo: Repository;
}

/** The fork's branch and worktree, under the repository's lock (as wt takes it). */
async function forkSourceWorktree(home: HeyoHome, source: SandboxEntry & { spec: SandboxSpec & { git: NonNullable<SandboxSpec["git"]> } }, request: ForkRequest): Promise<ForkedWorktree> {
  const { commonDir } = source.spec.git;
  // git runs in the common folder: never in the source's worktree, whose files are the sandbox's
  const repo: Repository = { top: commonDir, commonDir };
  const branch = request.branch ?? `${source.spec.git.branch}-fork-${randomBytes(2).toString("hex")}`;
  return withLock(home, `repo:${commonDir}`, LOCK_WAIT_MS, async () => {
    const plan = await planWorktree(repo, branch, request.path, process.cwd(), true);
    if (plan.action.kind !== "create" || plan.action.from !== "head") {
      throw new ConflictError(`branch ${branch} exists already`, "choose another --branch for the fork (it gets a new branch)");
    }
    const adminDir = hostAdminDir(source.spec);
    const base = await sourceBase(home, source);
    const carried = await forkWorktree({ commonDir, worktree: source.spec.workspace, adminDir, base }, branch, resolve(plan.path), dirname(commonDir));
    return { branch, path: resolve(plan.path), carried, repo };
  });
}

/** Undoes a fork's worktree and branch after a later step failed. */
async function dropWorktree(forked: ForkedWorktree): Promise<void> {
  await git(forked.repo.commonDir, ["worktree", "remove", "--force", forked.path]).catch(() => undefined);
  await git(forked.repo.commonDir, ["branch", "-D", forked.branch]).catch(() => undefined);
}

export async function forkSandbox(home: HeyoHome, request: ForkRequest, reporter: Reporter): Promise<ForkResult> {
  const source = resolveSandbox(home, request.query);
  checkName(home, request.name);
  if (request.branch !== undefined && !source.spec.git) throw new UserError(`sandbox ${source.spec.id} has no branch of its own, so --branch does not apply`, { hint: "leave out --branch" });
  return withLock(home, `sandbox:${source.spec.id}`, LOCK_WAIT_MS, async () => {
    const { status } = await sandboxStatus(source.dir);
    if (status === "starting" || status === "stopping") throw new ConflictError(`sandbox ${source.spec.id} is ${status}`, "wait until it is running or stopped, then fork it");
    const running = status === "running";
    checkForkable(source.spec.backend, running, source.spec.id);
    const backend = await loadBackend(source.spec.backend);
    const spec = source.spec;
    const forked = spec.git ? await forkSourceWorktree(home, { dir: source.dir, spec: { ...spec, git: spec.git } }, request) : undefined;
    let entry: SandboxEntry | undefined;
    try {
      entry = await createSandbox(home, {
        name: request.name ?? "",
        backend: spec.backend,
        image: spec.image,
        workspace: forked?.path ?? spec.workspace,
        git: forked ? { commonDir: forked.repo.commonDir, branch: forked.branch } : null,
        mounts: forked ? [] : spec.mounts,
        network: spec.network,
        ports: spec.ports,
        hostPorts: {}, // the source holds its host ports: the fork's are chosen afresh
        env: spec.env,
        workingDirectory: spec.workingDirectory,
        startCommand: spec.startCommand,
        ttlSeconds: spec.ttlSeconds,
        cpus: spec.cpus,
        memoryMiB: spec.memoryMiB,
        pids: spec.pids,
      });
      const created = entry;
      const notes = await forkSandboxDisks(home, spec.backend, source.dir, created.dir, running, reporter);
      let workspace = created.spec.workspace;
      if (!forked && request.workspace) {
        workspace = request.workspace;
        notes.push("workspace: the copy made for it");
      } else if (!forked && spec.workspace === join(source.dir.root, "workspace")) {
        // a create sandbox's own empty-at-first workspace: the fork gets a copy; a host folder given with --mount stays shared
        workspace = join(created.dir.root, "workspace");
        mkdirSync(dirname(workspace), { recursive: true });
        await run("cp", ["-a", "--no-dereference", "--reflink=auto", "--", spec.workspace, workspace]);
        notes.push("workspace copied (reflink where the file system allows)");
      } else if (!forked) {
        notes.push(`workspace ${spec.workspace} is shared with ${spec.id} (a host folder)`);
      }
      const name = request.name ?? (forked ? `wt-${slugify(forked.branch)}` : created.spec.id);
      created.spec = {
        ...created.spec,
        name,
        workspace,
        mounts: forked ? gitStoreMounts(created.dir, forked.repo, forked.path) : created.spec.mounts,
      };
      writeSpec(created.dir, created.spec);
      for (const note of notes) reporter.info(note);
      if (request.start ?? running) await ensureOwner(home, created, backend, "detached", reporter);
      const info = await sandboxInfo(await viewOf(created));
      return { ...info, source_id: spec.id, carried_paths: forked?.carried ?? 0, disk: notes };
    } catch (error) {
      if (entry) await removeEntry(home, entry, { worktree: false, force: false }).catch(() => undefined);
      if (forked) await dropWorktree(forked);
      throw error;
    }
  });
}
