// Test fixtures for the Docker engine: no registry is reachable here, so the tests make their own
// base image (mmdebstrap → docker import, about 20 s) once and keep it as a cache, like the
// downloaded kernel package; and a janitor that removes every image and container a test made.
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hasCommand } from "./env.js";

/** The base image Dockerfiles in tests start FROM (made locally: nothing can be pulled). */
export const TEST_BASE = "localhost/heyvm-test/debian:bookworm";

/** Kernel packages and heyvm's kernel kit, kept between test runs (HEYVM_IMAGE_CACHE). */
export const TEST_IMAGE_CACHE = join(tmpdir(), "heyvm-test-image-cache");

function docker(args: string[], input?: string) {
  return spawnSync("docker", args, { encoding: "utf8", input, timeout: 600_000 });
}

/** Why engine tests cannot run here, or false. */
export function engineSkipReason(): string | false {
  if (process.platform !== "linux") return "image builds are tested on Linux";
  if (!hasCommand("docker")) return "the docker CLI is not installed (scripts/install.sh installs docker.io)";
  const info = docker(["info", "--format", "{{.ServerVersion}}"]);
  if (info.status !== 0) return `no Docker engine answers (${info.stderr.trim().split("\n").pop()}); run scripts/start-services.sh`;
  if (docker(["image", "inspect", TEST_BASE]).status !== 0 && !hasCommand("mmdebstrap")) return `the test base image ${TEST_BASE} is missing and mmdebstrap is not installed to make it`;
  for (const tool of ["mke2fs", "tar", "busybox"]) if (!hasCommand(tool)) return `${tool} is not installed`;
  return false;
}

/** Makes the base image if the engine does not have it yet (kept afterwards as a cache). */
export function ensureTestBase(): void {
  mkdirSync(TEST_IMAGE_CACHE, { recursive: true });
  if (docker(["image", "inspect", TEST_BASE]).status === 0) return;
  const made = spawnSync("sh", ["-c", `mmdebstrap --variant=minbase --quiet bookworm - | docker import - ${TEST_BASE}`], { encoding: "utf8", timeout: 900_000 });
  if (made.status !== 0) throw new Error(`making ${TEST_BASE} failed: ${made.stderr}`);
}

function ids(args: string[]): Set<string> {
  return new Set(docker(args).stdout.split("\n").filter(Boolean));
}

/** Remembers the engine's images and containers, and removes whatever appeared since. */
export class EngineJanitor {
  private readonly images = ids(["images", "-a", "-q", "--no-trunc"]);
  private readonly containers = ids(["ps", "-a", "-q", "--no-trunc"]);

  /** Image ids made since the janitor was created (what a build left behind). */
  newImages(): string[] {
    return [...ids(["images", "-a", "-q", "--no-trunc"])].filter((id) => !this.images.has(id));
  }

  newContainers(): string[] {
    return [...ids(["ps", "-a", "-q", "--no-trunc"])].filter((id) => !this.containers.has(id));
  }

  cleanup(): void {
    const containers = this.newContainers();
    if (containers.length > 0) docker(["rm", "-f", ...containers]);
    // tags first (heyvm keeps a Dockerfile's own image as localhost/heyvm/<name>:<backend>)
    const tags = docker(["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", "--no-trunc"]).stdout.split("\n").filter(Boolean);
    const fresh = new Set(this.newImages());
    const names = tags.filter((line) => fresh.has(line.split(" ")[1] ?? "")).map((line) => line.split(" ")[0] ?? "").filter((name) => !name.startsWith("<none>"));
    if (names.length > 0) docker(["rmi", "-f", ...names]);
    for (let round = 0; round < 5; round++) {
      const left = this.newImages();
      if (left.length === 0) break;
      docker(["rmi", "-f", ...left]);
    }
  }
}
