// The --deploy… flags of `heyvm wt`, declared in one place (the product guide names them all).
import { Command, Option } from "commander";

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
