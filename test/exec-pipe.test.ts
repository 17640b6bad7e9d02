// `heyvm exec … | reader`: a large output reaches a slow reader whole, on every path exec takes —
// the native launcher, the Node fast path, the full CLI (commander) for a local sandbox, and a
// cloud sandbox (dep-…) behind a real `heyvm server`. process.stdout writes to a pipe
// asynchronously, so an exit right after the last write used to drop what the reader had not
// taken yet (64 KiB of 5 MB arrived).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { HEYVM, bubblewrapMissing, idOf, makeTestEnv, type TestEnv } from "./helpers/env.js";
import { api, createToken, deployArchive, startCloudServer, type CloudServer } from "./helpers/cloud-server.js";
import { makeTarGz } from "./helpers/cloud-tar.js";

const SIZE = 5_000_000;
const PRINT = ["sh", "-c", `head -c ${SIZE} /dev/zero | tr '\\0' y`];
const EXPECTED = createHash("sha256").update(Buffer.alloc(SIZE, "y")).digest("hex");

const quote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;

/**
 * heyvm exec into a pipe whose reader starts half a second late, so the pipe is full when heyvm
 * has its output: what the reader got (bytes, sha256) and heyvm's own exit code.
 */
function throughSlowPipe(t: TestEnv, args: string[], env: NodeJS.ProcessEnv = {}): { bytes: number; sha256: string; code: string; stderr: string } {
  const codeFile = join(t.root, "exec-code");
  const heyvm = [HEYVM, ...args].map(quote).join(" ");
  const run = spawnSync("sh", ["-c", `(${heyvm}; echo "$?" > ${quote(codeFile)}) | (sleep 0.5; cat)`], { env: { ...t.env, ...env }, maxBuffer: 64 * 1024 * 1024 });
  return { bytes: run.stdout.length, sha256: createHash("sha256").update(run.stdout).digest("hex"), code: readFileSync(codeFile, "utf8").trim(), stderr: run.stderr.toString() };
}

function assertWhole(what: string, got: ReturnType<typeof throughSlowPipe>, size = SIZE, sha256 = EXPECTED): void {
  assert.equal(got.code, "0", `${what}: ${got.stderr}`);
  assert.equal(got.bytes, size, `${what}: the reader got ${got.bytes} of ${size} bytes`);
  assert.equal(got.sha256, sha256, what);
}

describe("heyvm exec into a slow pipe: the whole output arrives", { skip: bubblewrapMissing() }, () => {
  let t: TestEnv;
  let server: CloudServer;
  let local = "";
  let cloud = "";
  let token = "";

  before(async () => {
    t = makeTestEnv("heyvm-exec-pipe-");
    const started = await t.run(["wt", "pipes", "--detach", "--backend", "bubblewrap"]);
    assert.equal(started.code, 0, started.stderr);
    local = idOf(started.stdout);
    server = await startCloudServer({ dataDir: join(t.root, "srv") });
    token = createToken(server.dataDir, "piper");
    cloud = await deployArchive(server, token, makeTarGz([{ path: "workspace/", type: "dir" }]));
  });
  after(async () => {
    if (cloud) await api(server, token, "DELETE", `/deployed-sandboxes/${cloud}`).catch(() => undefined);
    await server?.cleanup();
    await t?.cleanup();
  });

  test("a local sandbox: native launcher, Node fast path, full CLI (raw and --format json)", () => {
    assertWhole("native launcher", throughSlowPipe(t, ["exec", local, "--", ...PRINT]));
    assertWhole("Node fast path", throughSlowPipe(t, ["exec", local, "--", ...PRINT], { HEYVM_FAST: "0" }));
    // `--workdir=…` is a form only the full CLI reads
    assertWhole("full CLI", throughSlowPipe(t, ["exec", "--workdir=/workspace", local, "--", ...PRINT]));
    const json = throughSlowPipe(t, ["exec", "--format=json", local, "--", ...PRINT]);
    assert.equal(json.code, "0", json.stderr);
    assert.ok(json.bytes > SIZE, `full CLI, --format json: the reader got ${json.bytes} bytes`);
  });

  test("a cloud sandbox (dep-…): through the launcher and through node", () => {
    const env = { HEYO_CLOUD_URL: server.url, HEYO_API_KEY: token };
    assertWhole("cloud, launcher", throughSlowPipe(t, ["exec", cloud, "--", ...PRINT], env));
    assertWhole("cloud, node", throughSlowPipe(t, ["exec", cloud, "--", ...PRINT], { ...env, HEYVM_FAST: "0" }));
    // a reader that stops early ends heyvm quietly, with the command's code
    const early = spawnSync("sh", ["-c", `${[HEYVM, "exec", cloud, "--", ...PRINT].map(quote).join(" ")} | head -c 10`], { env: { ...t.env, ...env }, encoding: "utf8" });
    assert.equal(early.stdout, "y".repeat(10));
    assert.doesNotMatch(early.stderr, /EPIPE|Unhandled/, early.stderr);
  });
});
