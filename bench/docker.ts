// The Docker side of the benchmarks that compare with it: an engine (started here without
// networking if none runs, installed as docker.io if missing) and a Debian image made with
// mmdebstrap (nothing can be pulled here). `done` undoes what this made.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { openSync } from "node:fs";
import { join } from "node:path";

/** The image: BENCH_DOCKER_IMAGE if set (an image already there, kept), else made here and removed after. */
export const DOCKER_IMAGE = process.env.BENCH_DOCKER_IMAGE ?? "localhost/heyvm-bench/debian:bookworm";

export interface DockerEngine {
  image: string;
  done(): Promise<void>;
}

function ok(argv: string[]): boolean {
  return spawnSync(argv[0] ?? "false", argv.slice(1), { stdio: "ignore" }).status === 0;
}

function sh(cmd: string, cwd: string): void {
  const result = spawnSync("sh", ["-c", cmd], { cwd, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${cmd}: ${result.stderr}`);
}

/** A running Docker engine with the bench image, or why the Docker figures are skipped. */
export async function dockerEngine(root: string): Promise<DockerEngine | { skipped: string }> {
  let daemon: ChildProcess | undefined;
  let madeImage = false;
  const done = async () => {
    if (madeImage) spawnSync("docker", ["rmi", DOCKER_IMAGE], { stdio: "ignore" });
    if (daemon?.pid) {
      daemon.kill("SIGTERM");
      await new Promise((resolve) => daemon?.once("exit", resolve));
    }
  };
  try {
    if (!ok(["docker", "info"])) {
      if (!ok(["sh", "-c", "command -v dockerd"])) {
        console.log("(installing docker.io for the comparison)");
        if (!ok(["apt-get", "install", "-y", "-q", "docker.io"])) return { skipped: "docker.io could not be installed" };
      }
      const log = openSync(join(root, "dockerd.log"), "a");
      daemon = spawn("dockerd", ["--bridge=none", "--iptables=false", "--ip-masq=false"], { stdio: ["ignore", log, log] });
      for (let i = 0; i < 120 && !ok(["docker", "info"]); i++) await new Promise((resolve) => setTimeout(resolve, 500));
      if (!ok(["docker", "info"])) return { skipped: `dockerd did not come up (see ${join(root, "dockerd.log")})` };
    }
    if (!ok(["docker", "image", "inspect", DOCKER_IMAGE])) {
      console.log(`(building ${DOCKER_IMAGE} with mmdebstrap: nothing can be pulled)`);
      madeImage = true;
      sh(`mmdebstrap --quiet --variant=minbase bookworm - | docker import - ${DOCKER_IMAGE}`, root);
    }
    return { image: DOCKER_IMAGE, done };
  } catch (error) {
    await done();
    return { skipped: `docker: ${error instanceof Error ? error.message : String(error)}` };
  }
}
