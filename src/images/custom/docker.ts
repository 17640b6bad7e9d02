// The Docker engine, through the `docker` CLI: whether one answers (DOCKER_HOST or the default
// socket; Podman's Docker-compatible socket counts), `docker build` with its output streamed,
// and create + export (a container is made only to be exported, never started).
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createConnection } from "node:net";
import { OperationFailedError, UnavailableError } from "../../shared/errors.js";
import { findExecutable, run } from "../../shared/run.js";
import type { GraphDriver } from "./layers.js";

export function dockerEndpoint(env: NodeJS.ProcessEnv = process.env): { path: string } | { host: string; port: number } {
  const host = env.DOCKER_HOST;
  if (host?.startsWith("unix://")) return { path: host.slice("unix://".length) };
  if (host?.startsWith("tcp://")) {
    const url = new URL(host.replace(/^tcp:/, "http:"));
    return { host: url.hostname, port: Number(url.port || 2375) };
  }
  return { path: "/var/run/docker.sock" };
}

/** True when the engine answers its /_ping within timeoutMs. */
export function dockerReachable(timeoutMs = 1500, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(dockerEndpoint(env));
    let answer = "";
    const done = (value: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write("GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n"));
    socket.on("data", (chunk: string) => {
      answer += chunk;
      if (answer.includes("\r\n")) done(/^HTTP\/1\.[01] 200/.test(answer));
    });
    socket.on("error", () => done(false));
    socket.on("close", () => done(answer.startsWith("HTTP/1.1 200") || answer.startsWith("HTTP/1.0 200")));
  });
}

/** The one line that says how to get an engine, for every "no engine" refusal. */
export const START_ENGINE_HINT =
  "start one: Docker Desktop; or `apt-get install docker.io` and run `dockerd`; or Podman's socket (`podman system service`) with DOCKER_HOST=unix://$XDG_RUNTIME_DIR/podman/podman.sock";

function where(env: NodeJS.ProcessEnv = process.env): string {
  const endpoint = dockerEndpoint(env);
  return "path" in endpoint ? endpoint.path : `${endpoint.host}:${endpoint.port}`;
}

/** Fails with START_ENGINE_HINT unless the docker CLI is installed and an engine answers. */
export async function requireEngine(purpose: string): Promise<void> {
  if (!findExecutable("docker")) throw new UnavailableError(`${purpose} runs \`docker build\`, and the docker command is not installed`, START_ENGINE_HINT);
  if (!(await dockerReachable())) throw new UnavailableError(`${purpose} runs \`docker build\`, and no Docker engine answers at ${where()}`, START_ENGINE_HINT);
}

/** Calls onLine for each complete line a stream carries (and the unterminated rest at its end). */
function eachLine(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let rest = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const lines = (rest + chunk).split(/\r?\n|\r/);
    rest = lines.pop() ?? "";
    for (const line of lines) onLine(line);
  });
  stream.on("end", () => {
    if (rest) onLine(rest);
  });
}

export interface DockerBuild {
  dockerfile: string;
  context: string;
  platform: string;
  /** A name to keep the result under (its layers then serve as the next build's cache). */
  tag?: string;
  /** Build without the engine's layer cache. */
  noCache?: boolean;
  /** Each line the engine prints, as it prints it. */
  onLine(line: string): void;
}

/** How many of the engine's last lines a failed build reports. */
const FAILURE_LINES = 15;

/** Every image the engine holds, intermediate ones included, as full ids. */
async function allImageIds(): Promise<Set<string>> {
  const listed = await run("docker", ["images", "--all", "--quiet", "--no-trunc"], { allowFailure: true, timeout: 120_000 });
  return new Set(listed.stdout.split("\n").map((line) => line.trim()).filter(isImageId));
}

/** A step's result as the engine's classic builder prints it (` ---> 3187eeb1bb13`). */
const STEP_IMAGE = /^ ---> ([0-9a-f]{12,64})$/;

/**
 * After a failed build: the classic builder keeps an image for every step that worked (untagged:
 * nothing will use them as they are). Removes those this build made — printed by it and not in
 * the engine before it — newest first; an image another build has come to use meanwhile stays.
 */
async function removeStepImages(printed: readonly string[], before: Set<string>): Promise<void> {
  const now = await allImageIds();
  const made = [...new Set(printed)].flatMap((short) => [...now].filter((id) => id.startsWith(`sha256:${short}`) && !before.has(id)));
  for (const id of made.reverse()) await run("docker", ["rmi", id], { allowFailure: true, timeout: 120_000 });
}

/** Runs `docker build` (RUN steps on the host's network: no bridge is ever needed); resolves with the image id. */
export async function dockerBuild(build: DockerBuild, iidFile: string): Promise<string> {
  const before = await allImageIds();
  const stepImages: string[] = [];
  const args = ["build", "--network", "host", "--force-rm", "--platform", build.platform, "--iidfile", iidFile, "-f", build.dockerfile];
  if (build.tag) args.push("-t", build.tag);
  if (build.noCache) args.push("--no-cache");
  args.push(build.context);
  const last: string[] = [];
  const child = spawn("docker", args, { stdio: ["ignore", "pipe", "pipe"] });
  const collect = (line: string) => {
    const step = STEP_IMAGE.exec(line)?.[1];
    if (step) stepImages.push(step);
    last.push(line);
    if (last.length > FAILURE_LINES) last.shift();
    build.onLine(line);
  };
  eachLine(child.stdout, collect);
  eachLine(child.stderr, collect);
  const code = await exitOf(child);
  if (code !== 0) {
    await removeStepImages(stepImages, before);
    throw new OperationFailedError(`docker build failed (exit code ${code}); the engine's last lines:\n${last.map((l) => `  ${l}`).join("\n")}`, "fix the Dockerfile and build again; nothing was installed and an earlier image of this name is intact");
  }
  const id = readFileSync(iidFile, "utf8").trim();
  if (!isImageId(id)) throw new OperationFailedError(`docker build wrote no image id (${id || "empty"})`);
  return id;
}

/** An engine image id as `docker build --iidfile` writes it. */
export function isImageId(text: string): boolean {
  return /^sha256:[0-9a-f]{64}$/.test(text);
}

function exitOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

async function docker(args: string[]): Promise<string> {
  const result = await run("docker", args, { allowFailure: true, timeout: 600_000 });
  if (result.code !== 0) throw new OperationFailedError(`docker ${args[0]} failed: ${(result.stderr || result.stdout).trim().split("\n").slice(-4).join(" ")}`);
  return result.stdout.trim();
}

/** Makes a container of an image only to export it or pin its layers (its command is never run); label names the build that made it. */
export function createContainer(image: string, label: string): Promise<string> {
  return docker(["create", "--label", label, image, "/heyvm-export-only"]);
}

export async function removeContainer(container: string): Promise<void> {
  await run("docker", ["rm", "-f", container], { allowFailure: true, timeout: 120_000 });
}

/** Removes images or tags; ones already gone (or still used by another tag) are left as they are. */
export async function removeImages(images: string[]): Promise<void> {
  if (images.length > 0) await run("docker", ["rmi", ...images], { allowFailure: true, timeout: 120_000 });
}

export interface ImageFacts {
  /** OS/architecture as the engine records it (linux/amd64). */
  platform: string;
  /** The size of its content, unpacked (what the automatic disk size starts from). */
  sizeBytes: number;
  /** Where the engine keeps the image's layers (layers.ts reads them in place when it can). */
  graphDriver: GraphDriver;
}

export async function imageFacts(image: string): Promise<ImageFacts> {
  const text = await docker(["image", "inspect", "--format", "{{.Os}}/{{.Architecture}} {{.Size}} {{json .GraphDriver}}", image]);
  const [platform = "", size = "0"] = text.split(" ", 2);
  let graphDriver: GraphDriver = {};
  try {
    graphDriver = JSON.parse(text.split(" ").slice(2).join(" ")) as GraphDriver;
  } catch {
    // an engine that does not say: the image is exported
  }
  return { platform, sizeBytes: Number(size) || 0, graphDriver };
}

/** The platform heyvm builds for when --platform is not given: this host's. */
export function hostPlatform(): string {
  return `linux/${process.arch === "x64" ? "amd64" : process.arch}`;
}
