// read-file and write-file of a running deployment. The file is opened by the sandbox's own
// `dd` inside its confinement (never by the server on the host), without following a link
// (iflag/oflag=nofollow), after a check that no folder on the way is a link; the path must lie
// inside the sandbox's mount (/workspace), with no `.`, `..` or empty parts. What a tenant could
// still race (swap a folder for a link between the check and dd) stays inside its own sandbox.
import { SANDBOX_WORKSPACE } from "../../cloud/schema.js";
import { READ_FILE_MAX_BYTES, type ReadFileResponse, type WriteFileRequest, type WriteFileResponse } from "../../cloud/sandbox-routes-schema.js";
import { captureInWorkspaceSandbox } from "../../core/workspace-sandbox.js";
import type { DeploymentServices } from "../context.js";
import { HttpError } from "../http/messages.js";
import { runningSandbox } from "./exec.js";

/** How long one file transfer may take inside the sandbox. */
const FILE_TIMEOUT_SECONDS = 60;

/** The shell's checks before dd, and what each refusal exits with. */
const REFUSED = { link: 40, missing: 42, tooLarge: 43, noFolder: 44, notRegular: 45 } as const;

const CHECK_FOLDERS = `d=$(dirname -- "$p"); while [ "$d" != / ]; do if [ -L "$d" ]; then echo "$d is a link" >&2; exit ${REFUSED.link}; fi; d=$(dirname -- "$d"); done; if [ -L "$p" ]; then echo "$p is a link" >&2; exit ${REFUSED.link}; fi`;

// $1 path, $2 the most bytes; prints the file as base64 (exit status: dd's, passed out through fd 4)
const READ_SCRIPT = `set -u; p=$1; ${CHECK_FOLDERS}; [ -e "$p" ] || exit ${REFUSED.missing}; [ -f "$p" ] || exit ${REFUSED.notRegular}; [ "$(stat -c %s -- "$p")" -le "$2" ] || exit ${REFUSED.tooLarge}; exec 3>&1; st=$( { { dd if="$p" iflag=nofollow status=none bs=65536; echo $? >&4; } | base64 -w0 >&3; } 4>&1 ); exit "$st"`;

// $1 path, $2 mode or "-"; the content comes on stdin
const WRITE_SCRIPT = `set -u; p=$1; ${CHECK_FOLDERS}; [ -d "$(dirname -- "$p")" ] || exit ${REFUSED.noFolder}; if [ -e "$p" ] && [ ! -f "$p" ]; then exit ${REFUSED.notRegular}; fi; dd of="$p" oflag=nofollow status=none bs=65536 || exit 1; if [ "$2" != - ]; then chmod "$2" -- "$p" || exit 1; fi`;

/** The path as asked, refused unless it is plainly inside /workspace. */
export function confinedPath(path: string): string {
  const parts = path.split("/").slice(1);
  if (!path.startsWith(`${SANDBOX_WORKSPACE}/`) || parts.some((part) => part === "" || part === "." || part === "..")) {
    throw new HttpError(422, `path must be a file inside ${SANDBOX_WORKSPACE}, without ".", ".." or empty parts: ${JSON.stringify(path)}`, "bad_path");
  }
  return path;
}

function refusal(exitCode: number, path: string, stderr: string): HttpError {
  switch (exitCode) {
    case REFUSED.link:
      return new HttpError(422, `${path}: links are refused (${stderr.trim().slice(0, 200)})`, "link_refused");
    case REFUSED.missing:
      return new HttpError(404, `${path} does not exist`, "not_found");
    case REFUSED.noFolder:
      return new HttpError(404, `the folder of ${path} does not exist`, "not_found");
    case REFUSED.tooLarge:
      return new HttpError(413, `${path} is larger than ${READ_FILE_MAX_BYTES} bytes`, "too_large");
    case REFUSED.notRegular:
      return new HttpError(422, `${path} is not a regular file`, "not_regular");
    default:
      return new HttpError(422, `${path}: ${stderr.trim().slice(0, 300) || `exit status ${exitCode}`}`, "file_error");
  }
}

export async function readDeploymentFile(services: DeploymentServices, tokenId: string, id: string, path: string, signal: AbortSignal): Promise<ReadFileResponse> {
  const wanted = confinedPath(path);
  const { entry } = await runningSandbox(services, tokenId, id);
  const run = await captureInWorkspaceSandbox(entry, ["sh", "-c", READ_SCRIPT, "sh", wanted, String(READ_FILE_MAX_BYTES)], {
    maxOutputBytes: Math.ceil(READ_FILE_MAX_BYTES / 3) * 4 + 16,
    signal,
    timeoutSeconds: FILE_TIMEOUT_SECONDS,
  });
  if (run.exitCode !== 0 || run.stdoutTruncated) throw refusal(run.stdoutTruncated ? REFUSED.tooLarge : run.exitCode, wanted, run.stderr);
  const content = run.stdout.trim();
  return { path: wanted, content, size_bytes: Buffer.from(content, "base64").length };
}

export async function writeDeploymentFile(services: DeploymentServices, tokenId: string, id: string, request: WriteFileRequest, signal: AbortSignal): Promise<WriteFileResponse> {
  const wanted = confinedPath(request.path);
  const bytes = Buffer.from(request.content, "base64");
  const { entry } = await runningSandbox(services, tokenId, id);
  const mode = request.mode === undefined ? "-" : request.mode.toString(8);
  const run = await captureInWorkspaceSandbox(entry, ["sh", "-c", WRITE_SCRIPT, "sh", wanted, mode], {
    maxOutputBytes: 4096,
    signal,
    timeoutSeconds: FILE_TIMEOUT_SECONDS,
    input: bytes,
  });
  if (run.exitCode !== 0) throw refusal(run.exitCode, wanted, run.stderr);
  return { path: wanted, size_bytes: bytes.length };
}
