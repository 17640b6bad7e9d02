// `heyvm archive`, `list-archives` and `update`: a sandbox's workspace (or any folder) packed and
// uploaded to the cloud server's archive store, and a sandbox's workspace replaced from one.
// Packing reads a folder a sandbox can write: the file list comes from git (.gitignore respected,
// as `wt --deploy` packs, cloud/archive.ts), and GNU tar runs in a bubblewrap confinement that
// sees only that folder, read-only, so a link swapped in meanwhile leads nowhere of the host's.
// A local update unpacks with the caller's checked extractor (the server's: one entry at a time,
// no links followed, no setuid bits) into a new folder, then swaps the worktree's contents,
// keeping its .git; a worktree with uncommitted changes is refused unless forced.
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, realpathSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { bwrapBinary, hostProgramArgs } from "../backends/bubblewrap/args.js";
import { grantTree } from "../backends/bubblewrap/host-user.js";
import { heldHostUser } from "../backends/host-ids.js";
import { workspaceFiles } from "../cloud/archive.js";
import type { CloudClient, UploadProgress } from "../cloud/client.js";
import { ARCHIVE_ROOT, SANDBOX_WORKSPACE, type ArchiveRecord, type Deployment } from "../cloud/schema.js";
import { git } from "../git/repo.js";
import { ConflictError, OperationFailedError, UnavailableError, UserError } from "../shared/errors.js";
import { isCloudId } from "../shared/ids.js";
import { removeTree } from "../shared/safe-fs.js";
import type { HeyoHome } from "../state/home.js";
import { resolveSandbox } from "./catalog.js";

export interface ArchiveResult extends ArchiveRecord {
  files: number;
  /** The folder that was packed. */
  source: string;
}

/** What `archive <id|dir>` packs: an existing folder, else a local sandbox's workspace. */
function archiveSource(home: HeyoHome, target: string): { root: string; sandboxId: string | null; label: string } {
  if (isCloudId(target)) throw new UserError(`${target} is a cloud sandbox: its workspace is on the cloud already`, { hint: "archive a local sandbox or a folder" });
  if (existsSync(target) && statSync(target).isDirectory()) {
    const root = realpathSync(target);
    return { root, sandboxId: null, label: basename(root) || "root" };
  }
  const entry = resolveSandbox(home, target);
  return { root: entry.spec.workspace, sandboxId: entry.spec.id, label: entry.spec.name };
}

/** The relative paths to pack: git's (tracked and untracked, .gitignore respected), or everything but .git outside a repository. */
async function filesToPack(root: string): Promise<string[]> {
  try {
    await git(root, ["rev-parse", "--is-inside-work-tree"]);
  } catch {
    return workspaceFiles(root, { ignore: false });
  }
  return workspaceFiles(root, { ignore: true });
}

/** GNU tar in a confinement that sees only `root` (read-only) at /src; the tar.gz goes to outPath. */
function packConfined(root: string, files: readonly string[], outPath: string): Promise<void> {
  const bwrap = bwrapBinary();
  if (!bwrap) throw new UnavailableError("bwrap is not installed (heyvm packs a folder a sandbox can write inside it)", "install it with `apt-get install bubblewrap`");
  const args = [
    "--die-with-parent", "--new-session", "--unshare-all", "--cap-drop", "ALL", "--clearenv",
    "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "LC_ALL", "C",
    ...hostProgramArgs(),
    "--dev", "/dev",
    "--ro-bind", root, "/src",
    "--remount-ro", "/",
    "--chdir", "/src",
    "--", "tar", "--create", "--gzip", "--file", "-", "--no-recursion", "--null", "--files-from", "-",
    "--owner=0", "--group=0", "--numeric-owner", "--hard-dereference", "--no-xattrs", "--no-acls", "--no-selinux",
    // every entry under workspace/, link targets as they are
    `--transform=s,^,${ARCHIVE_ROOT}/,S`,
  ];
  const out = openSync(outPath, "w", 0o600);
  return new Promise((resolve, reject) => {
    const child = spawn(bwrap, args, { stdio: ["pipe", out, "pipe"], env: {} });
    let stderr = "";
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d.slice(0, 4096)));
    child.on("error", reject);
    child.on("close", (code) => {
      closeSync(out);
      // 1: a file changed or went while it was read (the sandbox runs): what was read is packed
      if (code === 0 || code === 1) resolve();
      else reject(new OperationFailedError(`packing ${root} failed: ${stderr.trim().split("\n")[0] ?? `tar exit ${code}`}`));
    });
    child.stdin?.end(files.map((file) => `${file}\0`).join(""));
  });
}

export async function archiveWorkspace(home: HeyoHome, client: CloudClient, target: string, options: { name?: string; onProgress?: UploadProgress }): Promise<ArchiveResult> {
  const source = archiveSource(home, target);
  const name = options.name ?? source.label;
  const scratch = mkdtempSync(join(tmpdir(), "heyvm-archive-"));
  try {
    const files = await filesToPack(source.root);
    const file = join(scratch, "workspace.tar.gz");
    await packConfined(source.root, files, file);
    const sizeBytes = statSync(file).size;
    const presigned = await client.presignArchive({ name, size_bytes: sizeBytes });
    await client.uploadArchive(presigned.upload_url, file, sizeBytes, options.onProgress);
    const record = await client.finalizeArchive(presigned.archive_id, { sandbox_id: source.sandboxId ?? name, name });
    return { ...record, files: files.length, source: source.root };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Unpacks an archive's workspace/ into an empty folder (the server's checked extractor, handed down by the CLI). */
export type ArchiveExtractor = (archiveFile: string, dest: string) => Promise<void>;

export interface UpdateRequest {
  archiveId: string;
  mountPath: string;
  /** Replace a worktree even with uncommitted changes (they are lost). */
  force: boolean;
  /** The most a downloaded archive may be. */
  maxBytes: number;
}

export interface UpdateResult {
  id: string;
  archive_id: string;
  mount_path: string;
  /** Local: the host folder whose contents were replaced. */
  host_path?: string;
  /** Local: the archive's `.git` entries, left out. */
  skipped?: string[];
  /** Cloud: the deployment afterwards. */
  deployment?: Deployment;
}

/**
 * Removes every `.git` in an unpacked tree (ours, not yet seen by any sandbox): an archive comes
 * from whoever holds the token, and a `.git` folder or file landing in the host's worktree would be
 * read by the host's git as configuration (hooks, core.fsmonitor). Returns the paths removed.
 */
function dropGitEntries(root: string, prefix = ""): string[] {
  const dropped: string[] = [];
  for (const entry of readdirSync(join(root, prefix), { withFileTypes: true })) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.name === ".git") {
      rmSync(join(root, path), { recursive: true, force: true });
      dropped.push(path);
    } else if (entry.isDirectory()) dropped.push(...dropGitEntries(root, path));
  }
  return dropped;
}

/** The uncommitted changes of a worktree, as `git status --porcelain` lists them (none outside a repository). */
async function uncommitted(root: string): Promise<string[]> {
  try {
    await git(root, ["rev-parse", "--is-inside-work-tree"]);
  } catch {
    return [];
  }
  return (await git(root, ["status", "--porcelain", "--untracked-files=normal"])).split("\n").filter(Boolean);
}

export async function updateWorkspace(home: HeyoHome, client: CloudClient, query: string, request: UpdateRequest, extract: ArchiveExtractor): Promise<UpdateResult> {
  if (request.mountPath !== SANDBOX_WORKSPACE) throw new UserError(`update replaces ${SANDBOX_WORKSPACE} only, not ${request.mountPath}`);
  if (isCloudId(query)) {
    const deployment = await client.replaceMount(query, { archive_id: request.archiveId, sandbox_path: SANDBOX_WORKSPACE });
    return { id: query, archive_id: request.archiveId, mount_path: request.mountPath, deployment };
  }
  const entry = resolveSandbox(home, query);
  const root = entry.spec.workspace;
  const changes = await uncommitted(root);
  if (changes.length > 0 && !request.force) {
    throw new ConflictError(
      `${root} (/workspace of ${entry.spec.id}) has ${changes.length} uncommitted change${changes.length === 1 ? "" : "s"} (${changes.slice(0, 3).map((line) => line.slice(3)).join(", ")}${changes.length > 3 ? ", …" : ""}) that the update would replace`,
      "commit or stash them first, or add --force to replace them anyway (they are lost)",
    );
  }
  // unpacked beside the worktree (same file system: the swap is renames), then swapped in
  const staging = mkdtempSync(join(dirname(root), `.heyvm-update-${basename(root)}-`));
  const download = join(staging, "archive.tar.gz");
  const unpacked = join(staging, "workspace");
  let skipped: string[] = [];
  try {
    await client.downloadArchive(request.archiveId, download, request.maxBytes);
    await extract(download, unpacked);
    skipped = dropGitEntries(unpacked);
    // the sandbox's own uid (heyvm as root) gets what it has on the rest of its worktree
    const user = heldHostUser(entry.dir);
    if (user?.dropsRoot) await grantTree(user, unpacked);
    for (const name of readdirSync(root)) if (name !== ".git") removeTree(root, name);
    for (const name of readdirSync(unpacked)) renameSync(join(unpacked, name), join(root, name));
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return { id: entry.spec.id, archive_id: request.archiveId, mount_path: request.mountPath, host_path: root, skipped };
}
