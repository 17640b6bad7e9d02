// `heyvm wt <branch> --deploy`: checks flags, credentials and the cloud address first (so bad
// input creates nothing), runs the deploy use case and draws its progress.
import { UnavailableError } from "../../shared/errors.js";
import { heyoHome } from "../../state/home.js";
import { print, printJson, stderrReporter, type CliIO } from "../io.js";
import { formatBytes } from "../render.js";
import { checkDeployFlags, type DeployFlags } from "./deploy-options.js";

async function refusePublishImage(): Promise<never> {
  const { dockerEndpoint, dockerReachable } = await import("../../images/custom/docker.js");
  const endpoint = dockerEndpoint();
  const where = "path" in endpoint ? endpoint.path : `${endpoint.host}:${endpoint.port}`;
  if (!(await dockerReachable())) {
    throw new UnavailableError(
      `--publish-image builds the image with Docker, and no Docker engine answers at ${where}`,
      "start Docker (Docker Desktop, or dockerd with its socket at /var/run/docker.sock or DOCKER_HOST), or deploy without --publish-image",
    );
  }
  throw new UnavailableError("--publish-image (custom firecracker images) is not part of this heyvm build", "deploy without --publish-image (workspace sync), or add `COPY . /workspace` images later");
}

/** Upload progress: a redrawn line on a terminal, a line per quarter otherwise. */
function uploadProgress(io: CliIO, quiet: boolean): (sent: number, total: number) => void {
  const tty = (io.stderr as { isTTY?: boolean }).isTTY === true;
  let lastQuarter = -1;
  let lastDraw = 0;
  return (sent, total) => {
    if (quiet) return;
    const percent = total > 0 ? Math.floor((sent / total) * 100) : 100;
    const line = `… uploading ${formatBytes(sent)} / ${formatBytes(total)} (${percent}%)`;
    if (tty) {
      if (Date.now() - lastDraw < 100 && sent < total) return;
      lastDraw = Date.now();
      io.stderr.write(`\r${line}${sent >= total ? "\n" : ""}`);
      return;
    }
    const quarter = Math.floor(percent / 25);
    if (quarter !== lastQuarter) {
      lastQuarter = quarter;
      io.stderr.write(`${line}\n`);
    }
  };
}

export async function deployWorktree(io: CliIO, branch: string, flags: DeployFlags): Promise<number> {
  if (flags.publishImage) return refusePublishImage();
  const { DEFAULT_DEPLOY_DRIVER, DEFAULT_DEPLOY_IMAGE, DEFAULT_DEPLOY_REGION, deployWorktree: deploy } = await import("../../core/deploy.js");
  const checked = checkDeployFlags(flags, { driver: DEFAULT_DEPLOY_DRIVER, image: DEFAULT_DEPLOY_IMAGE, region: DEFAULT_DEPLOY_REGION });
  const { resolveCloudUrl, resolveToken } = await import("../../cloud/credentials.js");
  const { CloudClient } = await import("../../cloud/client.js");
  const home = heyoHome();
  const client = new CloudClient({ baseUrl: resolveCloudUrl(home, flags.cloudUrl), token: resolveToken(home, "deploy") });
  const quiet = flags.quiet === true || flags.json === true;
  const result = await deploy(
    home,
    client,
    { branch, cwd: process.cwd(), path: flags.path, ...checked, ignore: flags.ignore },
    { reporter: stderrReporter(io, quiet), onUploadProgress: uploadProgress(io, quiet) },
  );
  const { deployment } = result;
  if (flags.json) {
    printJson(io, { id: deployment.id, name: deployment.name, status: deployment.status, worktree: result.worktree, urls: deployment.urls, archive: result.archive, timings: result.timings });
    return 0;
  }
  if (!quiet) {
    io.stderr.write(`packed ${result.archive.files} files (${formatBytes(result.archive.inputBytes)} → ${formatBytes(result.archive.sizeBytes)}) from ${result.worktree}\n`);
  }
  for (const url of deployment.urls) print(io, `exposed: ${url}`);
  print(io, `Deployed successfully! ID: ${deployment.id}`);
  print(io, `Use \`heyvm exec ${deployment.id} <cmd>\` or \`heyvm sh ${deployment.id}\` to interact. \`heyvm stop ${deployment.id}\` tears it down.`);
  return 0;
}
