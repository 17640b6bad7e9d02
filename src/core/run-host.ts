// `heyvm run-host <id> [--mount-path P] -- cmd…`: a command run on the host, as the user who runs
// heyvm, in the host folder that backs one of the sandbox's mounts (the worktree for /workspace),
// for the host-side tools an agent needs. Only a mount's own folder is a starting point (heyvm
// chose it, the sandbox cannot swap it for a link); heyvm's own mounts (the git store) are not.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { NotFoundError, UserError } from "../shared/errors.js";
import { exitStatus } from "../shared/exit-status.js";
import { isCloudId } from "../shared/ids.js";
import type { HeyoHome } from "../state/home.js";
import type { ExtraMount, SandboxEntry } from "../state/records.js";
import { resolveSandbox } from "./catalog.js";
import { isWithin } from "./mount-rules.js";

export interface RunHostRequest {
  mountPath: string;
  /** Collect the output instead of passing it through (run-host --format json). */
  capture: boolean;
}

export interface RunHostResult {
  id: string;
  mount_path: string;
  host_path: string;
  exit_code: number;
  stdout?: string;
  stderr?: string;
}

/** heyvm's own mounts (the git store, the host's objects): never a place to run the user's tools. */
function isHeyvmMount(entry: SandboxEntry, mount: ExtraMount): boolean {
  return isWithin(mount.host, entry.dir.root) || (entry.spec.git !== null && isWithin(mount.host, entry.spec.git.commonDir));
}

/** The host folder behind a sandbox path that is one of its mounts. */
function hostFolderOf(home: HeyoHome, query: string, mountPath: string): { id: string; hostPath: string } {
  if (isCloudId(query)) throw new UserError(`run-host runs a command on this machine, and ${query} is a cloud sandbox with no folder here`, { hint: "use `heyvm exec` for a cloud sandbox" });
  const entry = resolveSandbox(home, query);
  const { spec } = entry;
  if (mountPath === "/workspace") return { id: spec.id, hostPath: spec.workspace };
  const mount = spec.mounts.find((m) => m.guest === mountPath);
  if (!mount) {
    const paths = ["/workspace", ...spec.mounts.filter((m) => !isHeyvmMount(entry, m)).map((m) => m.guest)];
    throw new UserError(`${spec.id} has no mount at ${mountPath}`, { hint: `its mounts: ${paths.join(", ")}` });
  }
  if (isHeyvmMount(entry, mount)) throw new UserError(`${mountPath} is heyvm's own mount in ${spec.id}, not a host folder of yours`, { hint: "give /workspace or a mount you added" });
  return { id: spec.id, hostPath: mount.host };
}

export function runOnHost(home: HeyoHome, query: string, argv: readonly string[], request: RunHostRequest): Promise<RunHostResult> {
  const [file, ...args] = argv;
  if (!file) throw new UserError("run-host needs a command after --", { hint: "e.g. heyvm run-host <id> -- git status" });
  const { id, hostPath } = hostFolderOf(home, query, request.mountPath);
  if (!existsSync(hostPath)) throw new NotFoundError(`${hostPath}, the host folder of ${request.mountPath} in ${id}, no longer exists`);
  const env = { ...process.env, HEYVM_SANDBOX_ID: id, HEYVM_MOUNT_PATH: request.mountPath, HEYVM_HOST_PATH: hostPath };
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file, args, { cwd: hostPath, env, stdio: request.capture ? ["inherit", "pipe", "pipe"] : "inherit" });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr?.on("data", (chunk: Buffer) => err.push(chunk));
    child.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") reject(new NotFoundError(`${file}: command not found on the host`, "give a program on the host's PATH"));
      else reject(error);
    });
    child.on("close", (code, signal) => {
      resolvePromise({
        id,
        mount_path: request.mountPath,
        host_path: hostPath,
        exit_code: exitStatus(code, signal),
        ...(request.capture ? { stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") } : {}),
      });
    });
  });
}
