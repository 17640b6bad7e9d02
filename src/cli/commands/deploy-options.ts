// The --deploy… flags of `heyvm wt`, declared in one place (the product guide names them all),
// and their checking into typed values.
import { Command, Option } from "commander";
import { UserError } from "../../shared/errors.js";

export interface DeployFlags {
  deploy?: boolean;
  deployDriver?: string;
  deployImage?: string;
  deployRegion?: string;
  deployTtlSeconds?: string;
  deployPort?: string[];
  publishImage?: boolean;
  deployDockerfile?: string;
  deployImageName?: string;
  deployImageSizeMb?: string;
  ignore: boolean;
  cloudUrl?: string;
  /** Shared with local wt: where the worktree goes, JSON output, no progress. */
  path?: string;
  json?: boolean;
  quiet?: boolean;
}

export function addDeployOptions(command: Command): void {
  command
    .option("--deploy", "deploy the worktree to a cloud sandbox instead of starting a local one")
    .option("--deploy-driver <driver>", "cloud sandbox driver (default libvirt)")
    .option("--deploy-image <image>", "cloud sandbox image (default ubuntu:24.04)")
    .addOption(new Option("--deploy-region <region>", "cloud region").choices(["US", "EU"]))
    .option("--deploy-ttl-seconds <n>", "stop the cloud sandbox after this many seconds")
    .option("--deploy-port <port...>", "expose a port of the cloud sandbox (repeatable)")
    .option("--publish-image", "build a custom firecracker image from --deploy-dockerfile and deploy with it")
    .option("--deploy-dockerfile <file>", "Dockerfile for --publish-image")
    .option("--deploy-image-name <name>", "name of the published image")
    .option("--deploy-image-size-mb <n>", "size of the published image's rootfs")
    .option("--no-ignore", "with --deploy: upload everything, ignoring .gitignore and the default skips")
    .option("--cloud-url <url>", "cloud API address (default $HEYO_CLOUD_URL or the config)");
}

export interface CheckedDeployFlags {
  driver: string;
  image: string;
  region: "US" | "EU";
  ttlSeconds: number | undefined;
  ports: number[];
}

function wholeNumber(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < min || n > max) {
    throw new UserError(`${flag} takes a whole number from ${min} to ${max}, not "${value}"`);
  }
  return n;
}

/** Checks the deploy flags before anything is created, filling in the product's defaults. */
export function checkDeployFlags(flags: DeployFlags, defaults: { driver: string; image: string; region: "US" | "EU" }): CheckedDeployFlags {
  const region = flags.deployRegion ?? defaults.region;
  if (region !== "US" && region !== "EU") throw new UserError(`--deploy-region is US or EU, not "${region}"`);
  if (flags.deployImage !== undefined && flags.deployImage.trim() === "") throw new UserError("--deploy-image needs an image name, e.g. ubuntu:24.04");
  if (flags.deployDriver !== undefined && flags.deployDriver.trim() === "") throw new UserError("--deploy-driver needs a driver name, e.g. libvirt");
  const ports = (flags.deployPort ?? []).flatMap((value) => value.split(",")).map((value) => wholeNumber("--deploy-port", value, 1, 65535));
  return {
    driver: flags.deployDriver ?? defaults.driver,
    image: flags.deployImage ?? defaults.image,
    region,
    ttlSeconds: flags.deployTtlSeconds === undefined ? undefined : wholeNumber("--deploy-ttl-seconds", flags.deployTtlSeconds, 1, 30 * 86400),
    ports: [...new Set(ports)],
  };
}
