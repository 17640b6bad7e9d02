// The cloud commands as scripts and SDKs call them, against a real `heyvm server` on 127.0.0.1 with
// bubblewrap sandboxes: `wt --deploy --print-id` / `-q` print the bare id, the deploy's JSON is
// snake_case throughout, deployment urls and proxy endpoints have the SDKs' shape, unknown routes
// answer 401 before 404, `list --cloud` hides stopped ones unless --all, `exec <dep-id> --format
// json --cloud-url URL -- cmd` works and its errors are JSON, a failed create leaves nothing, and
// a failed --publish-image build leaves no engine images behind.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { request } from "node:http";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bubblewrapMissing, hasCommand, makeTestEnv, type RunResult, type TestEnv } from "./helpers/env.js";
import { engineSkipReason } from "./helpers/engine.js";
import { api, createToken, startCloudServer, type CloudServer } from "./helpers/cloud-server.js";

const skip = bubblewrapMissing();
if (skip) console.log(`# skipping cloud CLI tests: ${skip}`);

/** Every key of a JSON value, at any depth. */
function keysOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(keysOf);
  if (value && typeof value === "object") return Object.entries(value).flatMap(([key, inner]) => [key, ...keysOf(inner)]);
  return [];
}

function libvirtSkip(): string | false {
  if (process.getuid?.() !== 0) return "a server that runs firecracker images under libvirt needs root here";
  for (const tool of ["virsh", "qemu-system-x86_64", "qemu-img"]) if (!hasCommand(tool)) return `${tool} is not installed`;
  const virsh = spawnSync("virsh", ["-c", "qemu:///system", "uri"], { encoding: "utf8", timeout: 60_000 });
  return virsh.status === 0 ? false : `libvirtd is not reachable (${virsh.stderr.trim()})`;
}

const docker = (args: string[]) => spawnSync("docker", args, { encoding: "utf8", timeout: 300_000 });

describe("cloud commands as scripts and SDKs call them", { skip }, () => {
  let t: TestEnv;
  let server: CloudServer;
  let token = "";
  let id = "";
  let quietId = "";
  const run = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> => t.run(args, { env: { HEYO_CLOUD_URL: server.url, HEYO_API_KEY: token, ...env }, timeoutMs: 300_000 });

  before(async () => {
    t = makeTestEnv("heyvm-cloud-cli-");
    server = await startCloudServer({ dataDir: join(t.root, "srv") });
    token = createToken(server.dataDir, "alice");
  });
  after(async () => {
    await server?.cleanup();
    await t?.cleanup();
  });

  test("wt --deploy --print-id and -q print only the id", async () => {
    const printed = await run(["wt", "feature/print", "--deploy", "--deploy-driver", "bubblewrap", "--print-id"]);
    assert.equal(printed.code, 0, printed.stderr);
    const quiet = await run(["wt", "feature/quiet", "--deploy", "--deploy-driver", "bubblewrap", "-q"]);
    assert.equal(quiet.code, 0, quiet.stderr);
    // the ids, however printed, for the tests below
    id = /dep-[0-9a-f]{8}/.exec(printed.stdout)?.[0] ?? "";
    quietId = /dep-[0-9a-f]{8}/.exec(quiet.stdout)?.[0] ?? "";
    assert.match(printed.stdout, /^dep-[0-9a-f]{8}\n$/, "stdout is the bare id");
    assert.match(quiet.stdout, /^dep-[0-9a-f]{8}\n$/);
    assert.doesNotMatch(quiet.stderr, /uploading|waiting for/, "-q: no progress");
    const exec = await run(["exec", quiet.stdout.trim(), "--", "cat", "README.md"]);
    assert.equal(exec.stdout, "hello\n", exec.stderr);
  });

  test("wt --deploy --json is snake_case throughout, urls as objects", async () => {
    const result = await run(["wt", "feature/json", "--deploy", "--deploy-driver", "bubblewrap", "--deploy-port", "8080", "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as { id: string; urls: Array<Record<string, unknown>>; archive: Record<string, unknown>; timings: Record<string, unknown> };
    const camel = keysOf(summary).filter((key) => !/^[a-z0-9]+(_[a-z0-9]+)*$/.test(key));
    assert.deepEqual(camel, [], `keys not in snake_case: ${result.stdout}`);
    assert.deepEqual(Object.keys(summary.archive).sort(), ["files", "input_bytes", "size_bytes"]);
    assert.deepEqual(Object.keys(summary.timings).sort(), ["archive_ms", "start_ms", "upload_ms"]);
    assert.deepEqual(Object.keys(summary.urls[0] ?? {}), ["url", "port", "is_public", "hostname", "subdomain"]);
    assert.equal(summary.urls[0]?.port, 8080);
  });

  test("API shape: deployment urls and proxy endpoints carry hostname and subdomain; unknown routes answer 401 before 404", async () => {
    const view = await api(server, token, "GET", `/deployed-sandboxes/${id}`);
    assert.equal(view.status, 200);
    assert.deepEqual(view.json.urls, []);
    const endpoint = await api(server, token, "POST", "/proxy-endpoints/for-deployed", { sandbox_id: id, port: 3000, is_public: true });
    assert.equal(endpoint.status, 200, JSON.stringify(endpoint.json));
    const url = new URL(String(endpoint.json.url));
    assert.equal(endpoint.json.hostname, url.host);
    assert.equal(endpoint.json.subdomain, endpoint.json.id);
    assert.match(String(endpoint.json.subdomain), /^ep-[0-9a-f]+$/);
    const after = await api(server, token, "GET", `/deployed-sandboxes/${id}`);
    assert.deepEqual(after.json.urls, [{ url: endpoint.json.url, port: 3000, is_public: true, hostname: endpoint.json.hostname, subdomain: endpoint.json.subdomain }]);
    for (const [method, path] of [["GET", "/no/such/route"], ["POST", "/deployed-sandboxes"], ["GET", "/sandbox/x/y/z"]] as const) {
      assert.equal((await api(server, undefined, method, path)).status, 401, `${method} ${path} without a token`);
      assert.equal((await api(server, "heyvm_not_a_token", method, path)).status, 401, `${method} ${path} with a wrong token`);
    }
    assert.equal((await api(server, token, "GET", "/no/such/route")).status, 404);
    assert.equal((await api(server, token, "POST", "/deployed-sandboxes")).status, 405);
    // a WebSocket upgrade to a path that is no route: the same
    const upgrade = (path: string, bearer?: string) =>
      new Promise<number>((resolve, reject) => {
        const headers = { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": randomBytes(16).toString("base64"), ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) };
        const req = request(`${server.url}${path}`, { headers });
        req.on("response", (answer) => {
          answer.resume();
          resolve(answer.statusCode ?? 0);
        });
        req.on("upgrade", (_answer, socket) => {
          socket.destroy();
          resolve(101);
        });
        req.on("error", reject);
        req.end();
      });
    assert.equal(await upgrade("/no/such/socket"), 401);
    assert.equal(await upgrade("/no/such/socket", token), 404);
  });

  test("exec <dep-id> --format json --cloud-url URL -- cmd (options between the id and --), and its errors as JSON", async () => {
    const elsewhere = { HEYO_CLOUD_URL: "http://127.0.0.1:9" }; // only the flag leads to the server
    for (const fast of ["1", "0"]) {
      const result = await run(["exec", id, "--format", "json", "--cloud-url", server.url, "-e", "GREETING=hi", "--", "sh", "-c", "echo $GREETING; exit 3"], { ...elsewhere, HEYVM_FAST: fast });
      assert.equal(result.code, 3, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), { exit_code: 3, stdout: "hi\n", stderr: "", timed_out: false });
    }
    const before = await run(["exec", "--cloud-url", server.url, id, "--", "true"], elsewhere);
    assert.equal(before.code, 0, before.stderr);
    const stopped = await run(["stop", id]);
    assert.equal(stopped.code, 0, stopped.stderr);
    const refused = await run(["exec", id, "--format", "json", "--cloud-url", server.url, "--", "true"], elsewhere);
    assert.equal(refused.code, 4, refused.stderr);
    const error = JSON.parse(refused.stdout) as { error: { message: string; hint: string | null; exit_code: number } };
    assert.equal(error.error.exit_code, 4);
    assert.match(error.error.message, new RegExp(`${id} is stopped`));
    const usage = await run(["exec", "--format", "json", id, "--no-such-option", "--", "true"], elsewhere);
    assert.equal(usage.code, 2);
    assert.equal((JSON.parse(usage.stdout) as { error: { exit_code: number } }).error.exit_code, 2);
  });

  test("list --cloud shows running ones; stopped ones only with --all", async () => {
    const stopped = await run(["stop", quietId]);
    assert.equal(stopped.code, 0, stopped.stderr);
    const list = JSON.parse((await run(["list", "--cloud", "--json"])).stdout) as Array<{ id: string; status: string }>;
    assert.ok(list.length >= 1, JSON.stringify(list));
    assert.ok(list.every((row) => row.status === "running"), JSON.stringify(list));
    assert.equal(list.some((row) => row.id === quietId), false, "the stopped one is not listed");
    const all = JSON.parse((await run(["list", "--cloud", "--all", "--json"])).stdout) as Array<{ id: string; status: string }>;
    assert.equal(all.find((row) => row.id === quietId)?.status, "stopped");
    const text = await run(["list", "--cloud"]);
    assert.doesNotMatch(text.stdout, new RegExp(quietId));
    assert.match((await run(["list", "--cloud", "-a"])).stdout, new RegExp(`${quietId}\\s+wt-feature-quiet\\s+stopped`));
  });

  test("a create that fails leaves no record behind, and its error is JSON under --format json", async () => {
    const result = await t.run(["create", "--backend", "bubblewrap", "--image", "no-such-image", "--format", "json"]);
    assert.equal(result.code, 2, result.stderr);
    const error = JSON.parse(result.stdout) as { error: { message: string; hint: string | null; exit_code: number } };
    assert.equal(error.error.exit_code, 2);
    assert.match(error.error.message, /image "no-such-image" for bubblewrap not found/);
    assert.equal(typeof error.error.hint, "string");
    const list = await t.run(["list", "--all", "--json"]);
    assert.deepEqual(JSON.parse(list.stdout), [], "no stopped record left");
  });

  test("a --publish-image build that fails leaves no engine images behind", { skip: engineSkipReason() || libvirtSkip(), timeout: 600_000 }, async () => {
    const willing = await startCloudServer({ dataDir: join(t.root, "srv-fc"), args: ["--firecracker-images-on-libvirt"] });
    const base = `localhost/heyvm-test/busybox-${randomBytes(4).toString("hex")}:1`;
    const marker = `heyvm-failed-build-${randomBytes(6).toString("hex")}`;
    try {
      const root = join(t.root, "base");
      mkdirSync(join(root, "bin"), { recursive: true });
      copyFileSync(spawnSync("sh", ["-c", "command -v busybox"], { encoding: "utf8" }).stdout.trim(), join(root, "bin", "busybox"));
      symlinkSync("busybox", join(root, "bin", "sh"));
      const imported = spawnSync("sh", ["-c", `tar -C ${root} -c . | docker import - ${base}`], { encoding: "utf8" });
      assert.equal(imported.status, 0, imported.stderr);
      writeFileSync(join(t.root, "Dockerfile.fails"), `FROM ${base}\nRUN echo ${marker} > /marker\nRUN echo second > /second\nRUN echo third > /third\nRUN exit 3\n`);
      const result = await t.run(["wt", "feature/publish", "--deploy", "--publish-image", "--deploy-dockerfile", join(t.root, "Dockerfile.fails"), "--deploy-image-name", "fails"], {
        env: { HEYO_CLOUD_URL: willing.url, HEYO_API_KEY: createToken(willing.dataDir, "alice") },
        timeoutMs: 600_000,
      });
      assert.equal(result.code, 6, result.stderr);
      assert.match(result.stderr, /docker build failed/);
      const left = docker(["images", "-a", "-q", "--no-trunc"]).stdout.split("\n").filter(Boolean);
      const ours = left.filter((image) => docker(["history", "--no-trunc", "--format", "{{.CreatedBy}}", image]).stdout.includes(marker));
      assert.deepEqual(ours, [], "the failed build's step images were removed");
    } finally {
      const left = docker(["images", "-a", "-q", "--no-trunc"]).stdout.split("\n").filter(Boolean);
      for (const image of left.filter((i) => docker(["history", "--no-trunc", "--format", "{{.CreatedBy}}", i]).stdout.includes(marker)).reverse()) docker(["rmi", "-f", image]);
      docker(["rmi", "-f", base]);
      await willing.cleanup();
    }
  });
});
