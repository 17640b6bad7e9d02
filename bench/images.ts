// Custom image figures (issue 9): build-to-ready-image time of `heyvm images build` against doing
// the same by hand in this script (docker build + docker create/export | tar + mke2fs -d, same
// Dockerfile, same size), with the engine's layer cache warm and without it (--no-cache: the
// RUN step downloads again); the start of a bubblewrap sandbox on the image's exported root against
// one on the host's /usr; and boot-to-ready of a custom libvirt image against the default one.
// The Dockerfile brings its own sshd, so heyvm's guest-contract step installs nothing. Needs a
// Docker engine (scripts/start-services.sh); the base image is made locally as the tests do.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { median, row, timeInterleaved } from "./lib.js";

const HEYVM = fileURLToPath(new URL("../../bin/heyvm", import.meta.url));
const HOME = process.env.BENCH_HEYO_HOME ?? "/tmp/heyvm-bench-images"; // kept between runs: kernel kit, default image
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const COLD_ROUNDS = Number(process.env.BENCH_COLD_ROUNDS ?? 4);
const BOOTS = Number(process.env.BENCH_BOOTS ?? 2);
const BASE = "localhost/heyvm-test/debian:bookworm";
const BY_HAND_TAG = "localhost/heyvm-bench/by-hand:latest";
const env = { ...process.env, HEYO_HOME: HOME, HEYVM_IMAGE_CACHE: join(HOME, "cache") };

function sh(cmd: string, cwd = HOME): string {
  const result = spawnSync("sh", ["-c", cmd], { cwd, env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${cmd}: ${result.stderr}`);
  return result.stdout.trim();
}

/** The same by hand; like heyvm, it leaves the deletion of the unpacked tree to a background process. */
function byHand(dockerfile: string, context: string, work: string, sizeMiB: number, noCache: boolean): string {
  return [
    `mkdir -p ${work} && t=$(mktemp -d ${work}/tree.XXXXXX)`,
    `docker build -q --network host ${noCache ? "--no-cache " : ""}-t ${BY_HAND_TAG} -f ${dockerfile} ${context} >/dev/null`,
    `c=$(docker create ${BY_HAND_TAG} /x)`,
    `docker export "$c" | tar -x -p --same-owner --numeric-owner -C "$t"`,
    `docker rm "$c" >/dev/null`,
    `mke2fs -q -F -t ext4 -d "$t" ${join(work, "rootfs.ext4")} ${sizeMiB}M`,
    `(rm -rf "$t" >/dev/null 2>&1 &)`,
  ].join(" && ");
}

function manifest(backend: string, name: string): { details: { rootfsSizeMiB: number; buildPhasesMs?: Record<string, number> } } {
  return JSON.parse(readFileSync(join(HOME, "images", backend, name, "image.json"), "utf8")) as ReturnType<typeof manifest>;
}

async function main(): Promise<void> {
  mkdirSync(HOME, { recursive: true });
  if (spawnSync("docker", ["image", "inspect", BASE], { stdio: "ignore" }).status !== 0) {
    console.log(`making the base image ${BASE} (mmdebstrap | docker import) …`);
    sh(`mmdebstrap --variant=minbase --quiet bookworm - | docker import - ${BASE}`);
  }
  const context = join(HOME, "context");
  mkdirSync(context, { recursive: true });
  writeFileSync(join(context, "greeting.txt"), "bench\n");
  const dockerfile = join(context, "Dockerfile");
  writeFileSync(dockerfile, `FROM ${BASE}\nRUN apt-get update && apt-get install -y --no-install-recommends hello openssh-server git && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_*\nCOPY greeting.txt /opt/\n`);
  const work = join(HOME, "by-hand");
  const imagesBefore = new Set(sh("docker images -a -q --no-trunc").split("\n").filter(Boolean));
  console.log(`heyvm custom image benchmark (${ROUNDS} warm rounds, ${COLD_ROUNDS} cold; medians)\n`);

  // the first heyvm build fills the engine's cache and heyvm's kernel kit; not counted
  sh(`${HEYVM} images build --backend-type firecracker --file ${dockerfile} --name bench -q`);
  const size = manifest("firecracker", "bench").details.rootfsSizeMiB;
  sh(byHand(dockerfile, context, work, size, false));

  const warm = timeInterleaved({
    heyvmFirecracker: { argv: [HEYVM, "images", "build", "--backend-type", "firecracker", "--file", dockerfile, "--name", "bench", "-q"], env },
    heyvmLibvirt: { argv: [HEYVM, "images", "build", "--backend-type", "libvirt", "--file", dockerfile, "--name", "bench", "-q"], env },
    heyvmExport: { argv: [HEYVM, "images", "build", "--backend-type", "firecracker", "--file", dockerfile, "--name", "bench-export", "-q"], env: { ...env, HEYVM_IMAGE_EXPORT: "1" } },
    byHand: { argv: ["sh", "-c", byHand(dockerfile, context, work, size, false)], env },
  }, ROUNDS);
  const phases = manifest("firecracker", "bench").details.buildPhasesMs ?? {};
  const exportPhases = manifest("firecracker", "bench-export").details.buildPhasesMs ?? {};
  // without the cache the RUN step downloads again: the mirror's speed varies, so the order alternates
  const cold: Record<"heyvm" | "byHand", number[]> = { heyvm: [], byHand: [] };
  const coldPhases: Array<Record<string, number>> = [];
  const coldCommands = {
    heyvm: `${HEYVM} images build --backend-type firecracker --file ${dockerfile} --name bench --no-cache -q`,
    byHand: byHand(dockerfile, context, work, size, true),
  };
  for (let round = 0; round < COLD_ROUNDS; round++) {
    for (const which of round % 2 === 0 ? (["heyvm", "byHand"] as const) : (["byHand", "heyvm"] as const)) {
      const began = performance.now();
      sh(coldCommands[which]);
      cold[which].push(performance.now() - began);
      if (which === "heyvm") coldPhases.push(manifest("firecracker", "bench").details.buildPhasesMs ?? {});
    }
  }

  const hand = median(warm.byHand ?? []);
  const fc = median(warm.heyvmFirecracker ?? []);
  const lv = median(warm.heyvmLibvirt ?? []);
  const ex = median(warm.heyvmExport ?? []);
  const how = "layers" in phases ? "its layers read in place" : "exported: its layers cannot be read in place here";
  const coldHand = median(cold.byHand);
  const coldHeyvm = median(cold.heyvm);
  console.log(row("by hand: build + export | tar + mke2fs (warm)", `${(hand / 1000).toFixed(1)} s`, `rootfs ${size} MiB`));
  const phaseText = (p: Record<string, number>) => Object.entries(p).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}s`).join(", ");
  console.log(row("heyvm images build, firecracker (warm)", `${(fc / 1000).toFixed(1)} s`, `${(fc / hand).toFixed(2)}× by hand (target ≤ 1.15×); ${how}`));
  console.log(row("heyvm images build, libvirt (warm)", `${(lv / 1000).toFixed(1)} s`, `${(lv / hand).toFixed(2)}× by hand`));
  console.log(row("heyvm images build, exported (warm)", `${(ex / 1000).toFixed(1)} s`, `${(ex / hand).toFixed(2)}× by hand (HEYVM_IMAGE_EXPORT=1: the path without root or a local engine)`));
  console.log(row("  heyvm's phases (last warm firecracker build)", "", phaseText(phases)));
  console.log(row("  heyvm's phases (last warm export build)", "", phaseText(exportPhases)));
  console.log(row("by hand, --no-cache (RUN downloads again)", `${(coldHand / 1000).toFixed(1)} s`));
  console.log(row("heyvm images build --no-cache, firecracker", `${(coldHeyvm / 1000).toFixed(1)} s`, `${(coldHeyvm / coldHand).toFixed(2)}× by hand (target ≤ 1.15×)`));
  console.log(row("  each cold round, by hand / heyvm", "", cold.byHand.map((ms, i) => `${(ms / 1000).toFixed(1)}/${((cold.heyvm[i] ?? 0) / 1000).toFixed(1)} s`).join(", ")));
  console.log(row("  heyvm's phases (cold, median of dockerBuild)", "", `dockerBuild ${(median(coldPhases.map((p) => p.dockerBuild ?? 0)) / 1000).toFixed(1)}s`));

  // bubblewrap --image: the exported root as the sandbox's read-only root, against the host's /usr
  if (spawnSync("sh", ["-c", "command -v bwrap"], { stdio: "ignore" }).status === 0) {
    const repo = join(HOME, "repo-bw");
    if (!existsSync(repo)) {
      mkdirSync(repo);
      sh("git init -q && git -c user.email=b@b -c user.name=b commit -q --allow-empty -m init", repo);
    }
    sh(`${HEYVM} images build --backend-type bubblewrap --file ${dockerfile} --name bench -q`);
    const withImage = sh(`${HEYVM} wt bench/bw-image --backend bubblewrap --image bench --detach -q`, repo);
    sh(`${HEYVM} stop ${withImage}`, repo);
    const hostRoot = sh(`${HEYVM} wt bench/bw-host --backend bubblewrap --detach -q`, repo);
    sh(`${HEYVM} stop ${hostRoot}`, repo);
    const starts: Record<"image" | "host", number[]> = { image: [], host: [] };
    for (let i = 0; i < 5; i++) {
      for (const [which, id, branch] of [["image", withImage, "bench/bw-image"], ["host", hostRoot, "bench/bw-host"]] as const) {
        const began = performance.now();
        sh(`${HEYVM} wt ${branch} --detach -q`, repo);
        starts[which].push(performance.now() - began);
        sh(`${HEYVM} stop ${id}`, repo);
      }
    }
    const imageStart = median(starts.image);
    const hostStart = median(starts.host);
    console.log(row("bubblewrap wt --detach → ready, host's /usr", `${(hostStart / 1000).toFixed(2)} s`));
    console.log(row("bubblewrap wt --detach → ready, --image", `${(imageStart / 1000).toFixed(2)} s`, `${(imageStart / hostStart).toFixed(2)}× the host's root`));
    for (const id of [withImage, hostRoot]) spawnSync(HEYVM, ["rm", id, "-y"], { cwd: repo, env, stdio: "ignore" });
  }

  if (BOOTS > 0 && spawnSync("virsh", ["-c", "qemu:///system", "uri"], { stdio: "ignore" }).status === 0) {
    const repo = join(HOME, "repo");
    if (!existsSync(repo)) {
      mkdirSync(repo);
      sh("git init -q && git -c user.email=b@b -c user.name=b commit -q --allow-empty -m init", repo);
    }
    // first boots build the default image (root, once) and prepare both sandboxes; not counted
    const custom = sh(`${HEYVM} wt bench/custom --backend libvirt --image bench --detach -q`, repo);
    sh(`${HEYVM} stop ${custom}`, repo);
    const standard = sh(`${HEYVM} wt bench/default --backend libvirt --detach -q`, repo);
    sh(`${HEYVM} stop ${standard}`, repo);
    const boots: Record<"custom" | "standard", number[]> = { custom: [], standard: [] };
    for (let i = 0; i < BOOTS; i++) {
      for (const [which, id, branch] of [["custom", custom, "bench/custom"], ["standard", standard, "bench/default"]] as const) {
        const began = performance.now();
        sh(`${HEYVM} wt ${branch} --detach -q`, repo);
        boots[which].push(performance.now() - began);
        sh(`${HEYVM} stop ${id}`, repo);
      }
    }
    for (const id of [custom, standard]) spawnSync(HEYVM, ["rm", id, "-y"], { cwd: repo, env, stdio: "ignore" });
    const customBoot = median(boots.custom);
    const defaultBoot = median(boots.standard);
    console.log(row("libvirt wt --detach → ready, default image", `${(defaultBoot / 1000).toFixed(1)} s`, "(TCG where KVM cannot run a guest)"));
    console.log(row("libvirt wt --detach → ready, custom image", `${(customBoot / 1000).toFixed(1)} s`, `${(customBoot / defaultBoot).toFixed(2)}× the default image`));
  } else {
    console.log("libvirt boot figures skipped: libvirtd is not reachable (or BENCH_BOOTS=0)");
  }

  rmSync(work, { recursive: true, force: true });
  // the engine images this run made: the by-hand tag, heyvm's cache tags, the layers they leave
  spawnSync("docker", ["rmi", BY_HAND_TAG, "localhost/heyvm/bench:firecracker", "localhost/heyvm/bench-export:firecracker", "localhost/heyvm/bench:libvirt", "localhost/heyvm/bench:bubblewrap"], { stdio: "ignore" });
  const made = sh("docker images -a -q --no-trunc").split("\n").filter((id) => id && !imagesBefore.has(id));
  if (made.length > 0) spawnSync("docker", ["rmi", "-f", ...made], { stdio: "ignore" });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
