// fork, checkpoint and restore of cloud sandboxes through bin/heyvm against a real `heyvm server`
// on 127.0.0.1 (bubblewrap sandboxes), parsing --format json as a client would: a fork of a
// running dep-… holds its workspace and home and diverges from it; checkpoint cold-stores it
// (stopped, disk and workspace kept, its place in the active quota given back) and restore brings
// back the same id with its files; the quota counts a restore and a running fork.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { bubblewrapMissing, makeTestEnv, type RunResult, type TestEnv } from "./helpers/env.js";
import { api, createToken, startCloudServer, type CloudServer } from "./helpers/cloud-server.js";

interface DeploymentJson {
  id: string;
  name: string;
  status: string;
  source_id?: string;
  error?: { message: string; exit_code: number };
}

describe("cloud fork, checkpoint and restore", { skip: bubblewrapMissing() }, () => {
  let t: TestEnv;
  let server: CloudServer;
  let token = "";
  const run = (args: string[]): Promise<RunResult> => t.run(args, { env: { HEYO_CLOUD_URL: server.url, HEYO_API_KEY: token }, timeoutMs: 300_000 });
  const json = async (args: string[]): Promise<DeploymentJson> => {
    const result = await run([...args, "--format", "json"]);
    return JSON.parse(result.stdout) as DeploymentJson;
  };
  const shell = async (id: string, script: string): Promise<string> => {
    const result = await run(["exec", id, "--", "sh", "-c", script]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout;
  };

  before(async () => {
    t = makeTestEnv("heyvm-cloud-fork-");
    server = await startCloudServer({ dataDir: join(t.root, "srv"), args: ["--max-active", "2"] });
    token = createToken(server.dataDir, "alice");
  });
  after(async () => {
    await server?.cleanup();
    await t?.cleanup();
  });

  test("fork of a running dep-…: its workspace and home come along, both diverge; checkpoint cold-stores it, restore brings back the same id", { timeout: 600_000 }, async () => {
    const deployed = await run(["wt", "feature/cloud", "--deploy", "--deploy-driver", "bubblewrap", "-q"]);
    assert.equal(deployed.code, 0, deployed.stderr);
    const source = deployed.stdout.trim();
    assert.match(source, /^dep-[0-9a-f]{8}$/);
    await shell(source, "echo changed > /workspace/README.md && echo made-inside > /workspace/new.txt && echo home-note > ~/note.txt && sync");

    const fork = await json(["fork", source, "--name", "experiment"]);
    assert.match(fork.id, /^dep-[0-9a-f]{8}$/);
    assert.notEqual(fork.id, source);
    assert.equal(fork.source_id, source);
    assert.equal(fork.name, "experiment");
    assert.equal(fork.status, "running", "a running source's fork runs");
    assert.equal(await shell(fork.id, "cat /workspace/README.md /workspace/new.txt ~/note.txt"), "changed\nmade-inside\nhome-note\n");
    await shell(fork.id, "echo fork-only > /workspace/README.md");
    assert.equal(await shell(source, "cat /workspace/README.md"), "changed\n", "the source is untouched by the fork's writes");
    assert.equal(await shell(fork.id, "cat /workspace/README.md"), "fork-only\n");

    // the quota is 2 and both run: a third active one is refused, until a checkpoint gives a place back
    const third = await run(["fork", source, "--format", "json"]);
    assert.notEqual(third.code, 0, "a running fork takes an active place: refused over the quota");
    assert.match((JSON.parse(third.stdout) as DeploymentJson).error?.message ?? "", /quota/);

    const cold = await json(["checkpoint", source]);
    assert.equal(cold.status, "cold-stored");
    assert.equal((await json(["get", source])).status, "cold-stored");
    const sandboxes = join(server.sandboxHome, "sandboxes");
    assert.ok(existsSync(sandboxes), "the server keeps its sandboxes there");
    const stopped = await run(["exec", source, "--", "true"]);
    assert.notEqual(stopped.code, 0, "a cold-stored sandbox runs nothing");
    const listed = await api(server, token, "GET", "/deployed-sandboxes");
    assert.deepEqual((listed.json as unknown as DeploymentJson[]).filter((d) => d.id === source).map((d) => d.status), ["cold-stored"]);

    // its place is free again: another fork (of the running fork) is accepted
    const second = await json(["fork", fork.id]);
    assert.equal(second.status, "running");
    // now two run again: restore needs a place, and is refused (429) until one stops
    const refused = await run(["restore", source, "--format", "json"]);
    assert.notEqual(refused.code, 0);
    assert.match((JSON.parse(refused.stdout) as DeploymentJson).error?.message ?? "", /quota/);
    assert.equal((await run(["stop", second.id])).code, 0);

    const back = await json(["restore", source]);
    assert.equal(back.id, source, "the same id");
    assert.equal(back.status, "running");
    assert.equal(await shell(source, "cat /workspace/README.md /workspace/new.txt ~/note.txt"), "changed\nmade-inside\nhome-note\n", "disk and workspace were kept");
    const again = await run(["restore", source, "--format", "json"]);
    assert.equal(again.code, 4, again.stdout);
    assert.match((JSON.parse(again.stdout) as DeploymentJson).error?.message ?? "", /not cold-stored/);
    const local = await run(["checkpoint", "sb-00000000"]);
    assert.equal(local.code, 2);
    assert.match(local.stderr, /for cloud sandboxes/);
    const other = createToken(server.dataDir, "mallory");
    const foreign = await api(server, other, "POST", `/deployed-sandboxes/${source}/fork`, {});
    assert.equal(foreign.status, 404, "another tenant cannot fork it");
  });
});
