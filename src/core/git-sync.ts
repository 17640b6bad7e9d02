// Carries commits between a sandbox's git store and the host's repository, as trusted code with
// git itself (`heyvm __git_sync <id>`, run by the owner when either side's branch moves, at boot
// and at stop). Sandbox → host: a pack made in the confinement (git-confined.ts), indexed into
// the host's objects with `index-pack --strict` (objects named by hashing, links checked), then
// only the sandbox's own branch moved with a compare-and-swap update-ref; a forced move (amend,
// rebase) only when the host has no commits of its own there, else the sandbox's head is kept
// as refs/heyvm/<id>/<branch>. Host → sandbox: the store's branch, index and copies of the
// host's branches and tags are moved by git in the confinement.
import { existsSync } from "node:fs";
import { OwnerLog } from "../owner/log.js";
import { runGit, spawnGit } from "../git/safe-git.js";
import { errorMessage } from "../shared/errors.js";
import { isObject, readJsonFile, writeJsonFile } from "../shared/json.js";
import { askOwner } from "../shared/owner-protocol.js";
import { heyoHome, type HeyoHome } from "../state/home.js";
import { withLock } from "../state/lock.js";
import { readSpec, type SandboxSpec } from "../state/records.js";
import { SandboxDir } from "../state/sandbox-dir.js";
import { knownHostUser } from "../backends/host-ids.js";
import { runConfinedGit, spawnConfinedGit, type ConfinedStore } from "./git-confined.js";
import { ensureGitStore, gitEntryIdentity, gitEntryIntact, hostAdminDir, repairGitFile, usesGitStore } from "./git-store.js";

type StoreSpec = SandboxSpec & { git: NonNullable<SandboxSpec["git"]> };

/** What host and sandbox last agreed on; heyvm's own file, outside anything the sandbox sees. */
interface SyncState {
  /** The branch's commit both sides had at the last sync. */
  synced: string | null;
  /** The worktree's `.git` entry (dev:inode) the sandbox's read-only bind sits on. */
  gitEntry: string | null;
  /** The host's branches and tags as last copied into the store. */
  mirrored: Record<string, string>;
  /** The worktree's admin folder in the host's git, as found (and checked) before the first start. */
  adminDir: string | null;
}

const OBJECT_ID = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
const SYNC_LOCK_WAIT_MS = 60_000;

function readState(dir: SandboxDir): SyncState {
  const raw = readJsonFile(dir.gitSyncPath);
  const mirrored: Record<string, string> = {};
  if (raw && isObject(raw.mirrored)) for (const [ref, oid] of Object.entries(raw.mirrored)) if (typeof oid === "string") mirrored[ref] = oid;
  return {
    synced: typeof raw?.synced === "string" ? raw.synced : null,
    gitEntry: typeof raw?.gitEntry === "string" ? raw.gitEntry : null,
    mirrored,
    adminDir: typeof raw?.adminDir === "string" ? raw.adminDir : null,
  };
}

async function hostRev(commonDir: string, ref: string): Promise<string | null> {
  const out = await runGit(["--git-dir", commonDir, "rev-parse", "--verify", "-q", `${ref}^{commit}`], { allowFailure: true });
  const oid = out.stdout.trim();
  return out.code === 0 && OBJECT_ID.test(oid) ? oid : null;
}

async function hostHasCommit(commonDir: string, oid: string): Promise<boolean> {
  return (await runGit(["--git-dir", commonDir, "cat-file", "-e", `${oid}^{commit}`], { allowFailure: true })).code === 0;
}

async function isAncestor(commonDir: string, ancestor: string, descendant: string): Promise<boolean> {
  return (await runGit(["--git-dir", commonDir, "merge-base", "--is-ancestor", ancestor, descendant], { allowFailure: true })).code === 0;
}

async function hostRefs(commonDir: string): Promise<Record<string, string>> {
  const out = await runGit(["--git-dir", commonDir, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads", "refs/tags"]);
  const refs: Record<string, string> = {};
  for (const line of out.stdout.split("\n")) {
    const [oid, ref] = line.split(" ");
    if (oid && ref) refs[ref] = oid;
  }
  return refs;
}

/** The store's branch tip, asked of git in the confinement; only an object id is taken from it. */
async function sandboxTip(where: ConfinedStore, branchRef: string): Promise<string | null> {
  const out = await runConfinedGit(where, false, ["rev-parse", "--verify", "-q", `${branchRef}^{commit}`]);
  const oid = out.stdout.trim();
  return out.code === 0 && OBJECT_ID.test(oid) ? oid : null;
}

/** Packs what `tip` has beyond the host's refs in the confinement and indexes it into the host's objects. */
async function carryObjects(where: ConfinedStore, commonDir: string, tip: string, known: string[]): Promise<void> {
  const packer = spawnConfinedGit(where, ["pack-objects", "--stdout", "--revs", "-q"]);
  const indexer = spawnGit(["--git-dir", commonDir, "index-pack", "--stdin", "--fix-thin", "--strict"], { stdio: [packer.stdout ?? "ignore", "ignore", "pipe"] });
  packer.stdout?.destroy(); // index-pack has it now: nothing here may read pack bytes
  packer.stdin?.end(`${tip}\n${known.map((oid) => `^${oid}\n`).join("")}`);
  let errors = "";
  packer.stderr?.on("data", (chunk: Buffer) => (errors = `${errors}${chunk.toString()}`.slice(-2000)));
  indexer.stderr?.on("data", (chunk: Buffer) => (errors = `${errors}${chunk.toString()}`.slice(-2000)));
  // 'exit', not 'close': the packer's stdout is index-pack's, so its streams never all close here
  const ended = (child: typeof packer) => new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? 1)));
  const [packed, indexed] = await Promise.all([ended(packer), ended(indexer)]);
  if (packed !== 0 || indexed !== 0) throw new Error(`the sandbox's commits could not be carried over (${errors.trim().split("\n").pop() ?? "no detail"})`);
}

/** Moves the host's branch to the sandbox's commit and the host worktree's index with it. */
async function moveHostBranch(spec: StoreSpec, adminDir: string, branchRef: string, from: string, to: string, why: string): Promise<void> {
  const { commonDir } = spec.git;
  await runGit(["--git-dir", commonDir, "update-ref", "--create-reflog", "-m", `heyvm: sandbox ${spec.id} (${why})`, branchRef, to, from]);
  // the worktree's files are the sandbox's commit already: its index follows, so `git status` is clean
  await runGit(["--git-dir", adminDir, "--work-tree", spec.workspace, "read-tree", "-m", "-i", from, to]);
}

/**
 * The worktree's `.git` was replaced on the host (a new inode: the kernel dropped the sandbox's
 * read-only bind over it, and the sandbox could now write what the host's git reads) or changed:
 * the file is put back and the sandbox stopped.
 */
async function answerReplacedGitEntry(dir: SandboxDir, spec: StoreSpec, adminDir: string, log: OwnerLog): Promise<void> {
  log.line("owner", "git: the worktree's .git was replaced or changed, which ends the sandbox's read-only view of it: the file is put back and the sandbox stopped");
  repairGitFile(spec.workspace, adminDir);
  await askOwner(dir.socketPath, { op: "stop", reason: "the worktree's .git was replaced on the host" }).catch(() => undefined);
}

export interface GitSyncResult {
  /** What happened, for the log and the tests. */
  moved: "none" | "to-host" | "to-sandbox" | "kept-aside";
}

/** One sync of a sandbox's branch both ways (under the sandbox's git lock). */
export async function syncSandboxGit(home: HeyoHome, dir: SandboxDir, spec: SandboxSpec): Promise<GitSyncResult> {
  if (!usesGitStore(dir, spec) || !existsSync(dir.gitStorePath)) return { moved: "none" };
  const log = new OwnerLog(dir.logPath);
  return withLock(home, `git-sync:${spec.id}`, SYNC_LOCK_WAIT_MS, async () => {
    const state = readState(dir);
    const adminDir = state.adminDir ?? hostAdminDir(spec);
    if ((state.gitEntry !== null && gitEntryIdentity(spec.workspace) !== state.gitEntry) || !gitEntryIntact(spec, adminDir)) {
      await answerReplacedGitEntry(dir, spec, adminDir, log);
      writeJsonFile(dir.gitSyncPath, { ...state, gitEntry: gitEntryIdentity(spec.workspace) });
      return { moved: "none" };
    }
    const { commonDir, branch } = spec.git;
    const branchRef = `refs/heads/${branch}`;
    // as the sandbox's host user (a VM sandbox has no home folder on the host to tell it)
    const where: ConfinedStore = { store: dir.gitStorePath, hostObjects: `${commonDir}/objects`, user: knownHostUser(dir) };
    let host = await hostRev(commonDir, branchRef);
    const sandbox = await sandboxTip(where, branchRef);
    let synced = state.synced;
    let moved: GitSyncResult["moved"] = "none";
    const refs = await hostRefs(commonDir);
    if (sandbox && sandbox !== host && sandbox !== synced) {
      if (!(await hostHasCommit(commonDir, sandbox))) await carryObjects(where, commonDir, sandbox, [...new Set(Object.values(refs))]);
      if (host && (await isAncestor(commonDir, host, sandbox))) {
        await moveHostBranch(spec, adminDir, branchRef, host, sandbox, "fast-forward");
        moved = "to-host";
      } else if (host && !(await hostHasOwnCommits(commonDir, host, sandbox, synced))) {
        await moveHostBranch(spec, adminDir, branchRef, host, sandbox, "forced: amend or rebase; the old commit stays in this reflog");
        moved = "to-host";
      } else {
        const aside = `refs/heyvm/${spec.id}/${branch}`;
        await runGit(["--git-dir", commonDir, "update-ref", "--create-reflog", "-m", `heyvm: sandbox ${spec.id}`, aside, sandbox]);
        log.line("owner", `git: the sandbox's ${branch} (${sandbox.slice(0, 12)}) and the host's (${host?.slice(0, 12) ?? "deleted"}) have both moved; the host's branch is left as it is and the sandbox's commit is kept as ${aside}`);
        moved = "kept-aside";
      }
      if (moved === "to-host") {
        host = sandbox;
        refs[branchRef] = sandbox;
        synced = sandbox;
      }
    }
    if (host && sandbox !== host && moved !== "kept-aside" && (sandbox === null || sandbox === synced || (await isAncestor(commonDir, sandbox, host)))) {
      const moves = await moveSandboxBranch(where, branchRef, sandbox, host);
      if (moves) {
        moved = "to-sandbox";
        synced = host;
      }
    } else if (host && sandbox === host) {
      synced = host;
    }
    const mirrored = await mirrorHostRefs(where, refs, state.mirrored, branchRef, log);
    writeJsonFile(dir.gitSyncPath, { ...state, synced, mirrored });
    return { moved };
  });
}

/** True when `host` has commits reachable from neither the sandbox's new head nor the last agreed one. */
async function hostHasOwnCommits(commonDir: string, host: string, sandbox: string, synced: string | null): Promise<boolean> {
  const bases = [sandbox, ...(synced && (await hostHasCommit(commonDir, synced)) ? [synced] : [])];
  const out = await runGit(["--git-dir", commonDir, "rev-list", "-n", "1", host, "--not", ...bases]);
  return out.stdout.trim() !== "";
}

/** The host's commit onto the store's branch and index (compare-and-swap: a commit made inside meanwhile wins). */
async function moveSandboxBranch(where: ConfinedStore, branchRef: string, from: string | null, to: string): Promise<boolean> {
  const update = await runConfinedGit(where, true, ["update-ref", "-m", "heyvm: the host's commit", branchRef, to, from ?? ""]);
  if (update.code !== 0) throw new Error(`the host's commit could not be put on the sandbox's branch (${update.stderr.trim().split("\n").pop() ?? ""})`);
  if (from) await runConfinedGit(where, true, ["read-tree", "-m", "-i", from, to]);
  else await runConfinedGit(where, true, ["read-tree", to]);
  return true;
}

/** The host's other branches and tags, copied into the store when they changed on the host. */
async function mirrorHostRefs(where: ConfinedStore, refs: Record<string, string>, before: Record<string, string>, own: string, log: OwnerLog): Promise<Record<string, string>> {
  const lines: string[] = [];
  for (const [ref, oid] of Object.entries(refs)) if (ref !== own && before[ref] !== oid) lines.push(`update ${ref} ${oid}`);
  for (const ref of Object.keys(before)) if (ref !== own && !(ref in refs)) lines.push(`delete ${ref}`);
  if (lines.length === 0) return before;
  const out = await runConfinedGit(where, true, ["update-ref", "--stdin"], `${lines.join("\n")}\n`);
  if (out.code !== 0) {
    log.line("owner", `git: the host's branches could not be copied into the sandbox's store (${out.stderr.trim().split("\n").pop() ?? ""})`);
    return before;
  }
  const { [own]: _own, ...others } = refs;
  return others;
}

/** Before a start: the store made or checked, the `.git` entry's identity recorded, then a sync (the host may have moved meanwhile). */
export async function prepareSandboxGit(home: HeyoHome, dir: SandboxDir, spec: SandboxSpec): Promise<void> {
  if (!usesGitStore(dir, spec)) return;
  const firstTime = !existsSync(dir.gitStorePath);
  const state = readState(dir);
  if (state.adminDir !== null && !gitEntryIntact(spec, state.adminDir)) {
    new OwnerLog(dir.logPath).line("owner", "git: the worktree's .git was changed while the sandbox was stopped; it is put back");
    repairGitFile(spec.workspace, state.adminDir);
  }
  const adminDir = state.adminDir ?? hostAdminDir(spec);
  await ensureGitStore(dir, spec, adminDir);
  const host = await hostRev(spec.git.commonDir, `refs/heads/${spec.git.branch}`);
  writeJsonFile(dir.gitSyncPath, {
    ...state,
    adminDir,
    synced: firstTime ? host : state.synced,
    gitEntry: gitEntryIdentity(spec.workspace),
    mirrored: firstTime ? await hostRefs(spec.git.commonDir) : state.mirrored,
  });
  try {
    await syncSandboxGit(home, dir, spec);
  } catch (error) {
    new OwnerLog(dir.logPath).line("owner", `git: sync at start failed: ${errorMessage(error)}`);
  }
}

/**
 * How heyvm's own git calls name a sandbox's worktree: its recorded admin folder and the
 * worktree, never through the `.git` entry in the worktree (which the sandbox could have
 * written in the moment after the host replaced it); plain `-C <worktree>` for other sandboxes.
 */
export function worktreeGitArgs(dir: SandboxDir, spec: SandboxSpec): string[] {
  const adminDir = usesGitStore(dir, spec) ? readState(dir).adminDir : null;
  return adminDir ? ["--git-dir", adminDir, "--work-tree", spec.workspace] : [];
}

/** `heyvm __git_sync <id>`: one sync, its failure a line in owner.log; false when it did not sync. */
export async function runGitSync(id: string): Promise<boolean> {
  const home = heyoHome();
  const dir = new SandboxDir(home, id);
  const spec = readSpec(dir);
  if (!spec) return false;
  try {
    await syncSandboxGit(home, dir, spec);
    return true;
  } catch (error) {
    new OwnerLog(dir.logPath).line("owner", `git: sync failed: ${errorMessage(error)}`);
    return false;
  }
}
