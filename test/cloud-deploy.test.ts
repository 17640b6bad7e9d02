// End to end: a real `heyvm server` on 127.0.0.1 and the real CLI as a child process. Login,
// deploy a worktree on bubblewrap, exec, list, logs, stop, and what other tokens may not do.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bubblewrapMissing, git, makeTestEnv, type TestEnv, idOf } from "./helpers/env.js";
import { api, createToken, startCloudServer, type CloudServer } from "./helpers/cloud-server.js";

const skip = bubblewrapMissing();
if (skip) console.log(`# skipping cloud deploy tests: ${skip}`);

describe("heyvm wt --deploy against a self-hosted server", { skip }, () => {
  let t: TestEnv;
  let server: CloudServer;
  let token = "";
  let otherToken = "";
  let id = "";
  let cloudEnv: NodeJS.ProcessEnv = {};

  before(async () => {
    t = makeTestEnv("heyvm-cloud-test-");
    server = await startCloudServer({ dataDir: join(t.root, "srv") });
    token = createToken(server.dataDir, "alice");
    otherToken = createToken(server.dataDir, "mallory");
    cloudEnv = { HEYO_CLOUD_URL: server.url };
    writeFileSync(join(t.repo, ".gitignore"), "secret.env\nbuild-output/\n");
    git(t.repo, "add", ".gitignore");
    git(t.repo, "commit", "-qm", "ignore");
  });
  after(async () => {
    await server?.cleanup();
    await t?.cleanup();
  });

  test("without login, deploy says Not authenticated and creates nothing", async () => {
    const result = await t.run(["wt", "feature/none", "--deploy", "--deploy-driver", "bubblewrap"], { env: cloudEnv });
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stderr, /Not authenticated/);
    assert.match(result.stderr, /heyvm login/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
    assert.equal(existsSync(join(t.root, "feature-none")), false, "no worktree was created");
  });

  test("login: a wrong token is refused and not stored; a good one is stored with mode 0600", async () => {
    const bad = await t.run(["login", "--api-key", "heyvm_wrong", "--cloud-url", server.url]);
    assert.equal(bad.code, 7, bad.stderr);
    assert.match(bad.stderr, /does not accept this token/);
    assert.equal(existsSync(join(t.home, "token.json")), false);
    const prompt = await t.run(["login", "--cloud-url", server.url], { input: `${token}\n` });
    assert.equal(prompt.code, 0, prompt.stderr);
    assert.equal(statSync(join(t.home, "token.json")).mode & 0o777, 0o600);
    const logout = await t.run(["logout"]);
    assert.match(logout.stdout, /logged out/);
    assert.equal(existsSync(join(t.home, "token.json")), false);
    const again = await t.run(["login", "--api-key", token, "--cloud-url", server.url]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(statSync(join(t.home, "token.json")).mode & 0o777, 0o600);
  });

  test("--publish-image fails clearly without its Dockerfile, and on a cloud that cannot run firecracker images, before anything is built or created", async () => {
    const usage = await t.run(["wt", "feature/img", "--deploy", "--publish-image"]);
    assert.equal(usage.code, 2, usage.stderr);
    assert.match(usage.stderr, /--publish-image needs --deploy-dockerfile/);
    // this server has no Firecracker and was not started with --firecracker-images-on-libvirt: it is asked first
    writeFileSync(join(t.root, "Dockerfile"), "FROM scratch\nRUN false\n");
    const result = await t.run(["wt", "feature/img", "--deploy", "--publish-image", "--deploy-dockerfile", join(t.root, "Dockerfile"), "--deploy-image-name", "img"], { env: cloudEnv });
    assert.equal(result.code, 5, result.stderr);
    assert.match(result.stderr, /^heyvm: the cloud cannot run firecracker images, so nothing was built: this server cannot run firecracker sandboxes .*--firecracker-images-on-libvirt/m);
    assert.doesNotMatch(result.stderr, /docker build/, "no build was started");
    assert.equal(existsSync(join(t.root, "feature-img")), false, "no worktree was created");
    assert.match(server.log(), /GET \/capabilities 200/);
  });

  test("bad deploy flags are refused before anything is created; an unknown image gets the list of available ones", async () => {
    const result = await t.run(["wt", "feature/bad", "--deploy", "--deploy-ttl-seconds", "soon"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--deploy-ttl-seconds takes a whole number/);
    assert.equal(existsSync(join(t.root, "feature-bad")), false, "no worktree was created");
    const image = await t.run(["wt", "feature/bad", "--deploy", "--deploy-driver", "bubblewrap", "--deploy-image", "nosuch:1"]);
    assert.equal(image.code, 2, image.stderr);
    assert.match(image.stderr, /image "nosuch:1" is not available for driver bubblewrap; available: ubuntu:24.04/);
  });

  test("deploy archives the worktree (gitignore respected, node_modules skipped), uploads it and runs it", async () => {
    // the worktree exists already with local changes: deploy uses it as it is
    const created = await t.run(["wt", "feature/cloud", "--detach", "--backend", "bubblewrap"]);
    assert.equal(created.code, 0, created.stderr);
    await t.run(["stop", idOf(created.stdout)]);
    const worktree = join(t.root, "feature-cloud");
    writeFileSync(join(worktree, "notes.txt"), "untracked but not ignored\n");
    writeFileSync(join(worktree, "secret.env"), "TOKEN=1\n");
    mkdirSync(join(worktree, "node_modules", "left-pad"), { recursive: true });
    writeFileSync(join(worktree, "node_modules", "left-pad", "index.js"), "x\n");
    mkdirSync(join(worktree, "src"), { recursive: true });
    writeFileSync(join(worktree, "src", "main.sh"), "echo from-src\n");
    const result = await t.run(["wt", "feature/cloud", "--deploy", "--deploy-driver", "bubblewrap", "--deploy-port", "8080"], { env: cloudEnv });
    assert.equal(result.code, 0, result.stderr);
    const match = /Deployed successfully! ID: (dep-[0-9a-f]{8})/.exec(result.stdout);
    assert.ok(match?.[1], result.stdout);
    id = match[1];
    assert.match(result.stdout, new RegExp(`heyvm exec ${id}`));
    assert.match(result.stdout, /exposed: http:\/\/ep-[0-9a-f]+\.localhost:\d+\//, "the endpoint on a host name of its own");
    assert.match(result.stderr, /uploading .*\(100%\)/);
    assert.match(server.log(), new RegExp(`deployment ${id}: provisioning -> running`));
    assert.match(server.log(), /POST \/sandbox-deploy 202/);
  });

  test("exec sees the worktree's files in /workspace, with stdout, stderr and exit code", async () => {
    const result = await t.run(["exec", id, "--", "sh", "-c", "pwd; cat README.md notes.txt src/main.sh; ls -A; echo oops >&2; exit 9"]);
    assert.equal(result.code, 9, result.stderr);
    assert.match(result.stdout, /^\/workspace$/m);
    assert.match(result.stdout, /untracked but not ignored/);
    assert.match(result.stdout, /echo from-src/);
    assert.doesNotMatch(result.stdout, /secret\.env|node_modules|^\.git$/m);
    assert.equal(result.stderr.trim(), "oops");
    const quoted = await t.run(["exec", id, "--", "printf", "%s|", "a b", "it's"]);
    assert.equal(quoted.stdout, "a b|it's|");
  });

  test("list --cloud and logs show the sandbox", async () => {
    const list = await t.run(["list", "--cloud", "--json"]);
    assert.equal(list.code, 0, list.stderr);
    const rows = JSON.parse(list.stdout) as Array<Record<string, unknown>>;
    const row = rows.find((r) => r.id === id);
    assert.equal(row?.status, "running");
    assert.equal(row?.name, "wt-feature-cloud");
    assert.equal(row?.driver, "bubblewrap");
    const text = await t.run(["list", "--cloud"]);
    assert.match(text.stdout, new RegExp(`${id}\\s+wt-feature-cloud\\s+running\\s+bubblewrap\\s+ubuntu:24.04\\s+US`));
    const logs = await t.run(["logs", id]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /sandbox ready/);
  });

  test("another token can neither see nor touch the sandbox", async () => {
    const env = { HEYO_API_KEY: otherToken };
    const list = await t.run(["list", "--cloud", "--json"], { env });
    assert.deepEqual(JSON.parse(list.stdout), []);
    for (const args of [["exec", id, "--", "true"], ["stop", id], ["logs", id]]) {
      const result = await t.run(args, { env });
      assert.equal(result.code, 3, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, new RegExp(`no cloud sandbox ${id}`));
    }
    const shell = await api(server, otherToken, "DELETE", `/deployed-sandboxes/${id}`);
    assert.equal(shell.status, 404);
    const still = await t.run(["exec", id, "--", "true"]);
    assert.equal(still.code, 0, "still running for its owner");
  });

  test("a revoked token is refused", async () => {
    const revoked = createToken(server.dataDir, "temp");
    const ok = await t.run(["list", "--cloud"], { env: { HEYO_API_KEY: revoked } });
    assert.equal(ok.code, 0, ok.stderr);
    const revoke = await t.run(["server", "token", "revoke", "temp", "--data-dir", server.dataDir]);
    assert.equal(revoke.code, 0, revoke.stderr);
    const refused = await t.run(["list", "--cloud"], { env: { HEYO_API_KEY: revoked } });
    assert.equal(refused.code, 7);
    assert.match(refused.stderr, /invalid or revoked API token/);
  });

  test("stop tears it down; stopping again is not an error; exec then says it is stopped", async () => {
    const stop = await t.run(["stop", id]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, new RegExp(`stopped ${id}`));
    const again = await t.run(["stop", id]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /was not running/);
    const exec = await t.run(["exec", id, "--", "true"]);
    assert.equal(exec.code, 4);
    assert.match(exec.stderr, new RegExp(`${id} is stopped`));
    assert.match(server.log(), new RegExp(`deployment ${id}: running -> stopped`));
  });

  test("--no-ignore uploads ignored files too (but never .git); HEYO_ARCHIVE_TOKEN authorises the deploy and every later cloud command", async () => {
    const worktree = join(t.root, "feature-cloud");
    assert.equal((await t.run(["logout"])).code, 0);
    const result = await t.run(["wt", "feature/cloud", "--deploy", "--deploy-driver", "bubblewrap", "--no-ignore", "--deploy-ttl-seconds", "3600", "--json"], {
      env: { ...cloudEnv, HEYO_ARCHIVE_TOKEN: token },
    });
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as { id: string; worktree: string };
    assert.equal(summary.worktree, worktree);
    const archiveOnly = { ...cloudEnv, HEYO_ARCHIVE_TOKEN: token }; // one credential rule for every cloud command
    const exec = await t.run(["exec", summary.id, "--", "cat", "notes.txt"], { env: archiveOnly });
    assert.equal(exec.code, 0, exec.stderr);
    assert.match(exec.stdout, /untracked but not ignored/);
    const listed = await t.run(["list", "--cloud", "--json"], { env: archiveOnly });
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok((JSON.parse(listed.stdout) as Array<{ id: string }>).some((r) => r.id === summary.id));
    const logs = await t.run(["logs", summary.id], { env: archiveOnly });
    assert.equal(logs.code, 0, logs.stderr);
    const login = await t.run(["login", "--cloud-url", server.url], { env: { HEYO_API_KEY: token } });
    assert.equal(login.code, 0, login.stderr);
    const list = JSON.parse((await t.run(["list", "--cloud", "--json"])).stdout) as Array<{ id: string; ttl_seconds: number | null }>;
    assert.equal(list.find((r) => r.id === summary.id)?.ttl_seconds, 3600);
    const ls = await t.run(["exec", summary.id, "--", "sh", "-c", "ls -A; cat secret.env node_modules/left-pad/index.js"]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^secret\.env$/m);
    assert.match(ls.stdout, /^TOKEN=1$/m);
    assert.doesNotMatch(ls.stdout, /^\.git$/m);
    assert.equal((await t.run(["logout"])).code, 0);
    const stop = await t.run(["stop", summary.id], { env: archiveOnly });
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, new RegExp(`stopped ${summary.id}`));
  });
});
