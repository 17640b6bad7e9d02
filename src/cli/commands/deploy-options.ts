// The --deploy… flags of `heyvm wt`, declared in one place (the product guide names them all),
// and their checking into typed values.
import type { OptionSpec } from "../command.js";
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
  /** Print only the deployment's id on stdout (also -q), for id=$(heyvm wt x --deploy --print-id). */
  printId?: boolean;
}

/** The --deploy… options as `heyvm wt` declares them. */
export const DEPLOY_OPTIONS: OptionSpec[] = [
  { flags: "--deploy", description: "deploy the worktree to a cloud sandbox instead of starting a local one" },
  { flags: "--deploy-driver <driver>", description: "cloud sandbox driver (default libvirt)" },
  { flags: "--deploy-image <image>", description: "cloud sandbox image (default ubuntu:24.04)" },
  { flags: "--deploy-region <region>", description: "cloud region", choices: ["US", "EU"] },
  { flags: "--deploy-ttl-seconds <n>", description: "stop the cloud sandbox after this many seconds" },
  { flags: "--deploy-port <port...>", description: "expose a port of the cloud sandbox (repeatable)" },
  { flags: "--publish-image", description: "build a custom firecracker image from --deploy-dockerfile and deploy with it" },
  { flags: "--deploy-dockerfile <file>", description: "Dockerfile for --publish-image" },
  { flags: "--deploy-image-name <name>", description: "name of the published image" },
  { flags: "--deploy-image-size-mb <n>", description: "size of the published image's rootfs" },
  { flags: "--no-ignore", description: "with --deploy: upload everything, ignoring .gitignore and the default skips" },
  { flags: "--cloud-url <url>", description: "cloud API address (default $HEYO_CLOUD_URL or the config)" },
];

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
