// archive, list-archives, update (local and cloud), resize and session reset of a cloud sandbox,
// against a real `heyvm server` on 127.0.0.1, through bin/heyvm parsing `--format json`. One local
// bubblewrap worktree sandbox and one bubblewrap deployment serve every case.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bubblewrapMissing, git, makeTestEnv, type TestEnv } from "./helpers/env.js";
import { api, createToken, startCloudServer, uploadArchive, type CloudServer } from "./helpers/cloud-server.js";
import { assertRefused, jsonOf } from "./helpers/cli-result.js";
import { makeTarGz } from "./helpers/cloud-tar.js";

const skip = bubblewrapMissing();
if (skip) console.log(`# skipping the archive tests: ${skip}`);


describe("archives, update and the cloud's resize against a self-hosted server", { skip }, () => {
  let t: TestEnv;
  let server: CloudServer;
  let token = "";
  let otherToken = "";
  let id = "";
  let worktree = "";
  let dep = "";

  /** The entries of an archive as the server keeps it, downloaded as a client does. */
  async function entriesOf(archiveId: string): Promise<string[]> {
    const response = await fetch(`${server.url}/sandbox-archives/${archiveId}/download`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(response.status, 200);
    const file = join(t.root, `${archiveId}.tar.gz`);
    writeFileSync(file, Buffer.from(await response.arrayBuffer()));
    const listed = spawnSync("tar", ["-tzvf", file], { encoding: "utf8" });
    assert.equal(listed.status, 0, listed.stderr);
    return listed.stdout.split("\n").filter(Boolean).map((line) => line.split(/\s+/).slice(5).join(" ")).sort();
  }

  before(async () => {
    t = makeTestEnv("heyvm-archives-");
    server = await startCloudServer({ dataDir: join(t.root, "srv") });
    token = createToken(server.dataDir, "alice");
    otherToken = createToken(server.dataDir, "mallory");
    const before = await t.run(["list-archives"], { env: { HEYO_CLOUD_URL: server.url } });
    assertRefused(before, 7, /Not authenticated/);
    assert.equal((await t.run(["login", "--api-key", token, "--cloud-url", server.url])).code, 0);
    writeFileSync(join(t.repo, ".gitignore"), "secret.env\n");
    git(t.repo, "add", ".gitignore");
    git(t.repo, "commit", "-qm", "ignore");
    const started = jsonOf<{ id: string; worktree: string }>(await t.run(["wt", "feature/arch", "--detach", "--backend", "bubblewrap", "--format", "json"]));
    id = started.id;
    worktree = started.worktree;
  });
  after(async () => {
    if (dep) await t.run(["rm", dep, "-y"]).catch(() => undefined);
    await server?.cleanup();
    await t?.cleanup();
  });

  test("archive <sandbox>: git's files (tracked, untracked, not ignored), never .git; prints the id; list-archives shows it", async () => {
    writeFileSync(join(worktree, "secret.env"), "TOKEN=1\n");
    writeFileSync(join(worktree, "notes.txt"), "untracked\n");
    mkdirSync(join(worktree, "src"));
    writeFileSync(join(worktree, "src", "a.js"), "1\n");
    symlinkSync("src/a.js", join(worktree, "link.js"));
    const plain = await t.run(["archive", id]);
    assert.equal(plain.code, 0, plain.stderr);
    const archiveId = plain.stdout.trim();
    assert.match(archiveId, /^arc-[0-9a-f]+$/, "stdout is the id alone");
    assert.deepEqual(await entriesOf(archiveId), [
      "workspace/.gitignore", "workspace/README.md", "workspace/link.js -> src/a.js", "workspace/notes.txt", "workspace/src/a.js",
    ]);
    const named = jsonOf<{ id: string; name: string; sandbox_id: string; files: number }>(await t.run(["archive", id, "--name", "second", "--format", "json"]));
    assert.equal(named.name, "second");
    assert.equal(named.sandbox_id, id);
    assert.equal(named.files, 5);
    const listed = jsonOf<Array<{ id: string; name: string }>>(await t.run(["list-archives", "--format", "json"]));
    assert.deepEqual(listed.map((a) => a.id).sort(), [archiveId, named.id].sort());
    const table = await t.run(["list-archives"]);
    assert.match(table.stdout, /^ID\s+NAME\s+SIZE\s+SOURCE\s+AGE$/m);
    assert.deepEqual((await api(server, otherToken, "GET", "/sandbox-archives")).json, [], "another token sees none of them");
    assert.equal((await api(server, otherToken, "GET", `/sandbox-archives/${archiveId}/download`)).status, 404);
  });

  test("archive <dir> outside a repository takes everything but .git; a cloud id or a missing one is refused", async () => {
    const folder = join(t.root, "site");
    mkdirSync(join(folder, ".git"), { recursive: true });
    writeFileSync(join(folder, ".git", "config"), "[core]\n");
    writeFileSync(join(folder, "index.html"), "<p>hi</p>\n");
    const made = jsonOf<{ id: string; name: string; files: number }>(await t.run(["archive", folder, "--format", "json"]));
    assert.equal(made.name, "site");
    assert.deepEqual(await entriesOf(made.id), ["workspace/index.html"]);
    assertRefused(await t.run(["archive", "dep-00000000"]), 2, /cloud sandbox/);
    assertRefused(await t.run(["archive", "no-such-thing"]), 3, /no sandbox matches/);
  });

  test("update (local): refused with uncommitted changes, then --force replaces the worktree's files, keeps its .git, and the sandbox can write them", async () => {
    git(worktree, "add", "-A");
    git(worktree, "commit", "-qm", "work");
    const archiveId = (await t.run(["archive", id])).stdout.trim();
    writeFileSync(join(worktree, "README.md"), "edited\n");
    writeFileSync(join(worktree, "extra.txt"), "mine\n");
    assertRefused(await t.run(["update", id, "--archive", archiveId]), 4, /uncommitted change.*\n.*--force/);
    assert.equal(readFileSync(join(worktree, "README.md"), "utf8"), "edited\n", "a refused update changes nothing");
    const updated = jsonOf<{ host_path: string; skipped: string[] }>(await t.run(["update", id, "--archive", archiveId, "--force", "--format", "json"]));
    assert.equal(updated.host_path, worktree);
    assert.equal(readFileSync(join(worktree, "README.md"), "utf8"), "hello\n");
    assert.equal(existsSync(join(worktree, "extra.txt")), false);
    assert.equal(existsSync(join(worktree, "secret.env")), false, "ignored files were not in the archive");
    assert.equal(git(worktree, "status", "--porcelain"), "", "the host's git sees the committed state");
    const inside = await t.run(["exec", id, "--", "sh", "-c", "echo more >> README.md && echo new > src/b.js && git status --porcelain"]);
    assert.equal(inside.code, 0, inside.stderr);
    assert.equal(inside.stdout, " M README.md\n?? src/b.js\n");
    assertRefused(await t.run(["update", id, "--archive", "arc-000000000000", "--force"]), 3, /no archive/);
    assertRefused(await t.run(["update", id]), 2, /--archive/);
    assertRefused(await t.run(["update", id, "--archive", archiveId, "--mount-path", "/data"]), 2, /\/workspace only/);
  });

  test("update (local) leaves out every .git an archive carries: the host's git never reads one as configuration", async () => {
    const hostile = makeTarGz([
      { path: "workspace/ok.txt", content: "fine\n" },
      { path: "workspace/.git", content: "gitdir: /tmp/elsewhere\n" },
      { path: "workspace/sub/.git/config", content: "[core]\n\tfsmonitor = touch /tmp/heyvm-pwned\n" },
      { path: "workspace/sub/file", content: "x\n" },
    ]);
    const uploaded = await uploadArchive(server, token, hostile);
    assert.equal(uploaded.finalize.status, 200, JSON.stringify(uploaded.finalize.json));
    const gitFile = readFileSync(join(worktree, ".git"), "utf8");
    const updated = jsonOf<{ skipped: string[] }>(await t.run(["update", id, "--archive", uploaded.archiveId, "--force", "--format", "json"]));
    assert.equal(readFileSync(join(worktree, ".git"), "utf8"), gitFile, "the worktree's own .git is untouched");
    assert.equal(existsSync(join(worktree, "sub", ".git")), false, "no nested repository whose config the host's git would run");
    assert.deepEqual(updated.skipped.sort(), [".git", "sub/.git"]);
    assert.equal(readFileSync(join(worktree, "sub", "file"), "utf8"), "x\n");
  });

  test("cloud: update, resize and session reset of a dep-… sandbox; run-host and mount-add refuse it", async () => {
    const deployed = jsonOf<{ id: string }>(await t.run(["wt", "feature/cloud", "--deploy", "--deploy-driver", "bubblewrap", "--format", "json"], { timeoutMs: 300_000 }));
    dep = deployed.id;
    const folder = join(t.root, "payload");
    mkdirSync(folder);
    writeFileSync(join(folder, "served.txt"), "from the archive\n");
    const archiveId = (await t.run(["archive", folder])).stdout.trim();
    const updated = jsonOf<{ deployment: { archive_id: string } }>(await t.run(["update", dep, "--archive", archiveId, "--format", "json"]));
    assert.equal(updated.deployment.archive_id, archiveId);
    assert.equal((await t.run(["exec", dep, "--", "cat", "/workspace/served.txt"])).stdout, "from the archive\n");

    const resized = jsonOf<{ size_class: string }>(await t.run(["resize", dep, "--size-class", "medium", "--format", "json"]));
    assert.equal(resized.size_class, "medium");
    assert.equal(jsonOf<{ size_class: string }>(await t.run(["get", dep, "--format", "json"])).size_class, "medium");
    const row = (await api(server, token, "GET", `/deployed-sandboxes/${dep}`)).json as { size_class: string };
    assert.equal(row.size_class, "medium");
    const sandboxes = spawnSync("sh", ["-c", `cat ${join(server.sandboxHome, "sandboxes")}/*/sandbox.json`], { encoding: "utf8" }).stdout;
    assert.match(sandboxes, /"cpus": 4/, "the deployment's sandbox record takes the class's CPUs");
    assert.match(sandboxes, /"memoryMiB": 4096/);
    assertRefused(await t.run(["resize", dep, "--cpus", "2"]), 2, /--size-class only/);
    assert.equal((await api(server, otherToken, "POST", `/deployed-sandboxes/${dep}/resize`, { size_class: "large" })).status, 404, "another token cannot resize it");
    assert.equal((await api(server, token, "POST", `/deployed-sandboxes/${dep}/resize`, { size_class: "huge" })).status, 422);

    assert.equal((await t.run(["exec", dep, "--session", "c1", "--", "cd", "/tmp"])).code, 0);
    assert.equal((await t.run(["exec", dep, "--session", "c1", "--", "pwd"])).stdout, "/tmp\n");
    assert.deepEqual(jsonOf(await t.run(["session", "reset", dep, "c1", "--format", "json"])), { id: dep, session: "c1", existed: true });
    assert.equal((await t.run(["exec", dep, "--session", "c1", "--", "pwd"])).stdout, "/workspace\n");

    assertRefused(await t.run(["run-host", dep, "--", "ls"]), 2, /cloud sandbox/);
    assertRefused(await t.run(["mount-add", "--id", dep, "--host-path", folder, "--sandbox-path", "/x"]), 2, /cloud sandbox/);
  });
});
