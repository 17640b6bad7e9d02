// `heyvm wt <branch> --deploy`: checks flags, credentials and the cloud address first (so bad
// input creates nothing), runs the deploy use case and draws its progress.
import { UserError } from "../../shared/errors.js";
import { heyoHome } from "../../state/home.js";
import { print, printJson, stderrReporter, type CliIO } from "../io.js";
import { formatBytes } from "../render.js";
import { checkDeployFlags, type DeployFlags } from "./deploy-options.js";

interface PublishFlags {
  dockerfile: string;
  name: string;
  sizeMb: number | undefined;
}

/** The --publish-image flags, checked before anything is built (and the driver it implies). */
function checkPublishFlags(flags: DeployFlags): PublishFlags {
  if (!flags.deployDockerfile) throw new UserError("--publish-image needs --deploy-dockerfile <Dockerfile>", { hint: "e.g. heyvm wt feature/x --deploy --publish-image --deploy-dockerfile ./Dockerfile --deploy-image-name my-image" });
  if (!flags.deployImageName) throw new UserError("--publish-image needs --deploy-image-name <name>", { hint: "the name the image gets in the cloud's registry" });
  if (flags.deployImage !== undefined) throw new UserError("--publish-image deploys the image it builds; leave out --deploy-image", { hint: "name it with --deploy-image-name" });
  if (flags.deployDriver !== undefined && flags.deployDriver !== "firecracker") throw new UserError(`--publish-image builds a firecracker image, so the driver is firecracker, not ${flags.deployDriver}`);
  const size = flags.deployImageSizeMb;
  if (size !== undefined && (!/^\d+$/.test(size) || Number(size) < 64)) throw new UserError(`--deploy-image-size-mb takes a whole number of at least 64, not "${size}"`);
  return { dockerfile: flags.deployDockerfile, name: flags.deployImageName, sizeMb: size === undefined ? undefined : Number(size) };
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
  const publish = flags.publishImage ? checkPublishFlags(flags) : undefined;
  const { DEFAULT_DEPLOY_DRIVER, DEFAULT_DEPLOY_IMAGE, DEFAULT_DEPLOY_REGION, deployWorktree: deploy } = await import("../../core/deploy.js");
  const checked = checkDeployFlags(flags, { driver: publish ? "firecracker" : DEFAULT_DEPLOY_DRIVER, image: publish?.name ?? DEFAULT_DEPLOY_IMAGE, region: DEFAULT_DEPLOY_REGION });
  const { resolveCloudUrl, resolveToken } = await import("../../cloud/credentials.js");
  const { CloudClient } = await import("../../cloud/client.js");
  const home = heyoHome();
  const token = resolveToken(home);
  const client = new CloudClient({ baseUrl: resolveCloudUrl(home, flags.cloudUrl), token });
  if (publish) {
    // after the credentials ("Not authenticated" comes first), before the long build: can the cloud run it, is there an engine
    const { requirePublishEngine, requirePublishTarget } = await import("../../core/publish-image.js");
    await requirePublishTarget(client);
    await requirePublishEngine();
  }
  const quiet = flags.quiet === true || flags.json === true;
  let published: Awaited<ReturnType<typeof import("../../core/publish-image.js").publishImage>> | undefined;
  if (publish) {
    const [{ findRepository }, { publishImage }] = await Promise.all([import("../../git/repo.js"), import("../../core/publish-image.js")]);
    await findRepository(process.cwd()); // not in a repository: say so before a long build
    published = await publishImage(home, client, { dockerfile: publish.dockerfile, name: publish.name, sizeMb: publish.sizeMb }, { reporter: stderrReporter(io, quiet), onUploadProgress: uploadProgress(io, quiet) });
    if (!quiet) io.stderr.write(`published image ${published.image.name} (${published.image.id}, ${formatBytes(published.bundleBytes)})\n`);
  }
  const result = await deploy(
    home,
    client,
    { branch, cwd: process.cwd(), path: flags.path, ...checked, ignore: flags.ignore },
    { reporter: stderrReporter(io, quiet), onUploadProgress: uploadProgress(io, quiet) },
  );
  const { deployment } = result;
  if (flags.json) {
    const { archive, timings } = result;
    printJson(io, {
      id: deployment.id,
      name: deployment.name,
      status: deployment.status,
      driver: deployment.driver,
      ...(deployment.requested_driver ? { requested_driver: deployment.requested_driver } : {}),
      worktree: result.worktree,
      urls: deployment.urls,
      archive: { files: archive.files, input_bytes: archive.inputBytes, size_bytes: archive.sizeBytes },
      timings: { archive_ms: Math.round(timings.archiveMs), upload_ms: Math.round(timings.uploadMs), start_ms: Math.round(timings.startMs) },
      ...(published ? { image: published.image } : {}),
    });
    return 0;
  }
  if (!quiet) {
    io.stderr.write(`packed ${result.archive.files} files (${formatBytes(result.archive.inputBytes)} → ${formatBytes(result.archive.sizeBytes)}) from ${result.worktree}\n`);
  }
  if (!quiet && deployment.requested_driver && deployment.driver && deployment.requested_driver !== deployment.driver) {
    io.stderr.write(`note: asked for ${deployment.requested_driver}; the cloud runs this sandbox with ${deployment.driver}\n`);
  }
  if (flags.printId === true || flags.quiet === true) {
    if (!quiet) for (const url of deployment.urls) io.stderr.write(`exposed: ${url.url}\n`);
    print(io, deployment.id); // only the id on stdout: id=$(heyvm wt x --deploy --print-id)
    return 0;
  }
  for (const url of deployment.urls) print(io, `exposed: ${url.url}`);
  print(io, `Deployed successfully! ID: ${deployment.id}`);
  print(io, `Use \`heyvm exec ${deployment.id} <cmd>\` or \`heyvm sh ${deployment.id}\` to interact. \`heyvm stop ${deployment.id}\` tears it down.`);
  return 0;
}
