// --publish-image and the image registry against the real server and the real engine: publish +
// deploy (firecracker-format image, run under libvirt because the server's operator allowed it,
// /workspace populated from the archive), another token can neither see nor use nor delete the
// image, a tampered upload and a bad bundle are refused, limits, deletion while in use, and a
// server without that option refusing firecracker deploys with a clear error; uploads follow the
// archives' rules (no register while a PUT is under way, a revoked token's URLs refused).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { request } from "node:http";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { create } from "tar";
import { packImageBundle } from "../src/cloud/image-bundle.js";
import { EngineJanitor, TEST_BASE, TEST_IMAGE_CACHE, engineSkipReason, ensureTestBase } from "./helpers/engine.js";
import { HEYVM, git, hasCommand, makeTestEnv, type RunResult, type TestEnv } from "./helpers/env.js";
import { api, createToken, startCloudServer, type CloudServer } from "./helpers/cloud-server.js";

const engineSkip = engineSkipReason();

function libvirtSkip(): string | false {
  for (const tool of ["virsh", "qemu-system-x86_64", "qemu-img", "ssh"]) if (!hasCommand(tool)) return `${tool} is not installed`;
  const virsh = spawnSync("virsh", ["-c", "qemu:///system", "uri"], { encoding: "utf8", timeout: 60_000 });
  return virsh.status === 0 ? false : `libvirtd is not reachable (${virsh.stderr.trim()}); run scripts/start-services.sh`;
}

const DOCKERFILE = `FROM ${TEST_BASE}
RUN apt-get update && apt-get install -y --no-install-recommends hello openssh-server && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_*
`;

const sha256 = (data: Buffer): string => createHash("sha256").update(data).digest("hex");

/** presign → PUT → register as the client does, with the bytes and declared sha256 given. */
async function publishRaw(server: CloudServer, token: string, name: string, bytes: Buffer, declaredSha256 = sha256(bytes)) {
  const presign = await api(server, token, "POST", "/images/presign", { name, backend_type: "firecracker", size_bytes: bytes.length, sha256: declaredSha256 });
  assert.equal(presign.status, 200, JSON.stringify(presign.json));
  const put = await fetch(String(presign.json.upload_url), { method: "PUT", headers: { "content-type": "application/gzip" }, body: bytes });
  await put.text();
  const register = await api(server, token, "POST", `/images/${String(presign.json.image_id)}/register`, {});
  return { id: String(presign.json.image_id), put: put.status, register };
}

describe("--publish-image and the server's image registry", { skip: engineSkip }, () => {
  let t: TestEnv;
  let janitor: EngineJanitor;
  let server: CloudServer;
  let alice = "";
  let mallory = "";
  let deploymentId = "";
  let imageId = "";
  let bundle: Buffer = Buffer.alloc(0);
  const run = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> =>
    t.run(args, { env: { HEYVM_IMAGE_CACHE: TEST_IMAGE_CACHE, HEYO_CLOUD_URL: server.url, ...env }, timeoutMs: 1_800_000 });

  before(async () => {
    ensureTestBase();
    janitor = new EngineJanitor();
    t = makeTestEnv("heyvm-registry-");
    server = await startCloudServer({ dataDir: join(t.root, "srv"), args: ["--firecracker-images-on-libvirt", "--max-image-mb", "2048"] });
    alice = createToken(server.dataDir, "alice");
    mallory = createToken(server.dataDir, "mallory");
    writeFileSync(join(t.repo, "Dockerfile"), DOCKERFILE);
    writeFileSync(join(t.repo, "from-the-archive.txt"), "uploaded with the worktree\n");
    git(t.repo, "add", ".");
    git(t.repo, "commit", "-qm", "dockerfile");
  });
  after(async () => {
    await server?.cleanup();
    await t?.cleanup();
    janitor?.cleanup();
  });

  test("without credentials: the product's wording, before any build starts", async () => {
    const result = await run(["wt", "feature/img", "--deploy", "--publish-image", "--deploy-dockerfile", "Dockerfile", "--deploy-image-name", "agent"], { HEYO_API_KEY: "", HEYO_ARCHIVE_TOKEN: "" });
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stderr, /^heyvm: Not authenticated — run `heyvm login` first, or set HEYO_ARCHIVE_TOKEN \(or HEYO_API_KEY\)$/m);
    assert.ok(!existsSync(join(t.home, "images")), "nothing was built");
    assert.ok(!existsSync(join(t.root, "feature-img")), "no worktree was made");
    const noEngineEither = await run(["wt", "feature/img", "--deploy", "--publish-image", "--deploy-dockerfile", "Dockerfile", "--deploy-image-name", "agent"], { HEYO_API_KEY: "", HEYO_ARCHIVE_TOKEN: "", DOCKER_HOST: "unix:///nonexistent/docker.sock" });
    assert.equal(noEngineEither.code, 7, noEngineEither.stderr);
    assert.match(noEngineEither.stderr, /^heyvm: Not authenticated — run `heyvm login` first, or set HEYO_ARCHIVE_TOKEN \(or HEYO_API_KEY\)$/m, "credentials are checked before the engine");
    const noEngine = await run(["wt", "feature/img", "--deploy", "--publish-image", "--deploy-dockerfile", "Dockerfile", "--deploy-image-name", "agent"], { HEYO_ARCHIVE_TOKEN: alice, DOCKER_HOST: "unix:///nonexistent/docker.sock" });
    assert.equal(noEngine.code, 5, noEngine.stderr);
    assert.match(noEngine.stderr, /--publish-image runs `docker build`, and no Docker engine answers at \/nonexistent\/docker\.sock/);
    assert.ok(!existsSync(join(t.home, "images")) && !existsSync(join(t.root, "feature-img")), "nothing was built or made");
  });

  test("publish + deploy: the firecracker image is built, uploaded, registered and booted; /workspace comes from the archive", { skip: libvirtSkip(), timeout: 2_400_000 }, async () => {
    const result = await run(["wt", "feature/img", "--deploy", "--publish-image", "--deploy-dockerfile", "Dockerfile", "--deploy-image-name", "agent", "--deploy-image-size-mb", "1024"], { HEYO_ARCHIVE_TOKEN: alice });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /published image agent \(im-[0-9a-f]{12}, /);
    assert.match(result.stderr, /note: asked for firecracker; the cloud runs this sandbox with libvirt/);
    const match = /^Deployed successfully! ID: (dep-[0-9a-f]{8})$/m.exec(result.stdout);
    assert.ok(match?.[1], result.stdout);
    deploymentId = match[1];
    assert.match(result.stdout, new RegExp(`Use \`heyvm exec ${deploymentId} <cmd>\` or \`heyvm sh ${deploymentId}\``));
    const local = JSON.parse(readFileSync(join(t.home, "images", "firecracker", "agent", "image.json"), "utf8")) as { details: { rootfsSizeMiB: number } };
    assert.equal(local.details.rootfsSizeMiB, 1024, "--deploy-image-size-mb sized the published rootfs");

    const view = await api(server, alice, "GET", `/deployed-sandboxes/${deploymentId}`);
    assert.equal(view.json.driver, "libvirt", "the info says which driver really runs it");
    assert.equal(view.json.requested_driver, "firecracker");
    assert.equal(view.json.image, "agent");
    imageId = String(view.json.image_id);
    const exec = await run(["exec", deploymentId, "--", "sh", "-c", "hello && cat /workspace/from-the-archive.txt && cat /proc/cmdline"], { HEYO_API_KEY: alice });
    assert.equal(exec.code, 0, exec.stderr);
    assert.match(exec.stdout, /^Hello, world!\nuploaded with the worktree\n.*init=\/init\.sh/);

    const listing = await api(server, alice, "GET", "/public-images?backend=firecracker");
    assert.equal(listing.status, 200);
    const images = listing.json.images as Array<Record<string, unknown>>;
    assert.equal(images.length, 1);
    assert.deepEqual(Object.keys(images[0] ?? {}).sort(), ["backend_type", "created_at", "description", "format", "id", "name", "size_bytes"]);
    assert.equal(images[0]?.id, imageId);
    assert.equal(images[0]?.name, "agent");
    assert.equal(images[0]?.backend_type, "firecracker");
    assert.equal(images[0]?.format, "firecracker-rootfs");
    assert.deepEqual((await api(server, alice, "GET", "/public-images?backend=libvirt")).json, { images: [] });
  });

  test("another token can neither see, use nor delete the image", { skip: libvirtSkip() }, async () => {
    assert.ok(imageId);
    assert.deepEqual((await api(server, mallory, "GET", "/public-images")).json, { images: [] });
    assert.equal((await api(server, mallory, "GET", `/images/${imageId}`)).status, 404);
    const deploy = await api(server, mallory, "POST", "/sandbox-deploy", { region: "US", image: "agent", driver: "firecracker" });
    assert.equal(deploy.status, 422, JSON.stringify(deploy.json));
    const removed = await api(server, mallory, "DELETE", `/images/${imageId}`);
    assert.equal(removed.status, 404);
    assert.equal((await api(server, alice, "GET", `/images/${imageId}`)).status, 200, "still there for its owner");
  });

  test("a tampered upload and a bad bundle are refused; size limits hold", { timeout: 1_800_000 }, async () => {
    const local = join(t.home, "images", "firecracker", "agent");
    if (!existsSync(local)) {
      const built = await run(["images", "build", "--backend-type", "firecracker", "--file", join(t.repo, "Dockerfile"), "--name", "agent"]);
      assert.equal(built.code, 0, built.stderr);
    }
    bundle = readFileSync((await packImageBundle(local, join(t.root, "agent.tar.gz"))).path);
    const tampered = Buffer.from(bundle);
    tampered[tampered.length - 100] = (tampered[tampered.length - 100] ?? 0) ^ 0xff;
    const refused = await publishRaw(server, alice, "tampered", tampered, sha256(bundle));
    assert.equal(refused.put, 200);
    assert.equal(refused.register.status, 422, JSON.stringify(refused.register.json));
    assert.match(String(refused.register.json.error ?? refused.register.json.message), /sha256 .* not the .* presigned/);
    assert.ok(!((await api(server, alice, "GET", "/public-images")).json.images as Array<{ name: string }>).some((image) => image.name === "tampered"));

    // a bundle whose sha256 is honest but whose contents are not an image: a symlink and a path out
    const evil = join(t.root, "evil");
    mkdirSync(evil);
    writeFileSync(join(evil, "image.json"), JSON.stringify({ name: "x", backend: "firecracker", files: { kernel: "vmlinux", rootfs: "../rootfs.ext4" }, checksums: {} }));
    writeFileSync(join(evil, "vmlinux"), "not a kernel");
    spawnSync("ln", ["-s", "/etc/passwd", join(evil, "rootfs.ext4")]);
    await create({ file: join(t.root, "evil.tar.gz"), cwd: evil, gzip: true, portable: true }, ["image.json", "vmlinux", "rootfs.ext4"]);
    const bad = await publishRaw(server, alice, "evil", readFileSync(join(t.root, "evil.tar.gz")));
    assert.equal(bad.register.status, 422, JSON.stringify(bad.register.json));
    assert.match(String(bad.register.json.error ?? bad.register.json.message), /SymbolicLink|plain file/);
    const wrongChecksum = join(t.root, "wrong");
    mkdirSync(wrongChecksum);
    writeFileSync(join(wrongChecksum, "image.json"), JSON.stringify({ name: "x", backend: "firecracker", files: { kernel: "vmlinux", rootfs: "rootfs.ext4" }, checksums: { kernel: "0".repeat(64), rootfs: "0".repeat(64) } }));
    writeFileSync(join(wrongChecksum, "vmlinux"), "k");
    writeFileSync(join(wrongChecksum, "rootfs.ext4"), "r");
    await create({ file: join(t.root, "wrong.tar.gz"), cwd: wrongChecksum, gzip: true, portable: true }, ["image.json", "vmlinux", "rootfs.ext4"]);
    const wrong = await publishRaw(server, alice, "wrong", readFileSync(join(t.root, "wrong.tar.gz")));
    assert.equal(wrong.register.status, 422);
    assert.match(String(wrong.register.json.error ?? wrong.register.json.message), /does not match the sha256/);

    const tooLarge = await api(server, alice, "POST", "/images/presign", { name: "huge", backend_type: "firecracker", size_bytes: 3 * 1024 ** 3, sha256: "0".repeat(64) });
    assert.equal(tooLarge.status, 413);
    const badName = await api(server, alice, "POST", "/images/presign", { name: "../Up", backend_type: "firecracker", size_bytes: 10, sha256: "0".repeat(64) });
    assert.equal(badName.status, 422);
    const folder = await api(server, alice, "POST", "/images/presign", { name: "bw", backend_type: "bubblewrap", size_bytes: 10, sha256: "0".repeat(64) });
    assert.equal(folder.status, 422);
    const unsigned = await fetch(`${server.url}/images/im-000000000000/upload`, { method: "PUT", body: "x" });
    assert.equal(unsigned.status, 403);
    await unsigned.text();
    const leftovers = existsSync(join(server.dataDir, "image-uploads")) ? readdirSync(join(server.dataDir, "image-uploads")) : [];
    assert.deepEqual(leftovers, [], "refused uploads leave nothing behind");
  });

  test("an image in use cannot be deleted; once its deployment is gone it can", { skip: libvirtSkip(), timeout: 300_000 }, async () => {
    assert.ok(imageId && deploymentId);
    const inUse = await api(server, alice, "DELETE", `/images/${imageId}`);
    assert.equal(inUse.status, 409);
    assert.match(String(inUse.json.error ?? inUse.json.message), new RegExp(`used by ${deploymentId}`));
    assert.equal((await api(server, alice, "DELETE", `/deployed-sandboxes/${deploymentId}`)).status, 200);
    const deleted = await api(server, alice, "DELETE", `/images/${imageId}`);
    assert.equal(deleted.status, 200, JSON.stringify(deleted.json));
    assert.deepEqual((await api(server, alice, "GET", "/public-images")).json, { images: [] });
    assert.ok(!existsSync(join(server.sandboxHome, "images", "firecracker", imageId)));
    assert.ok(!existsSync(join(server.sandboxHome, "images", "libvirt", imageId)));
  });

  test("an image upload under way cannot be registered, and a revoked token's upload URL is refused (the archives' rules)", async () => {
    const uploader = createToken(server.dataDir, "uploader");
    const bytes = Buffer.alloc(256 * 1024, 7);
    const presign = await api(server, uploader, "POST", "/images/presign", { name: "racing", backend_type: "firecracker", size_bytes: bytes.length, sha256: sha256(bytes) });
    assert.equal(presign.status, 200, JSON.stringify(presign.json));
    const id = String(presign.json.image_id);
    const put = request(String(presign.json.upload_url), { method: "PUT", headers: { "content-length": String(bytes.length) } });
    const answered = new Promise<number>((resolve, reject) => {
      put.once("response", (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      put.once("error", reject);
    });
    put.write(bytes.subarray(0, 1024));
    await new Promise((resolve) => setTimeout(resolve, 300)); // the server is writing the .part file
    const early = await api(server, uploader, "POST", `/images/${id}/register`, {});
    assert.equal(early.status, 409, JSON.stringify(early.json));
    assert.match(String(early.json.error), /still under way/);
    put.end(bytes.subarray(1024));
    assert.equal(await answered, 200, "the upload itself completes");

    const second = await api(server, uploader, "POST", "/images/presign", { name: "after-revoke", backend_type: "firecracker", size_bytes: 10, sha256: "0".repeat(64) });
    assert.equal(second.status, 200);
    const revoke = spawnSync(HEYVM, ["server", "token", "revoke", "uploader", "--data-dir", server.dataDir], { encoding: "utf8" });
    assert.equal(revoke.status, 0, revoke.stderr);
    const late = await fetch(String(second.json.upload_url), { method: "PUT", body: "0123456789" });
    assert.equal(late.status, 403, "a URL presigned before the revocation stops working");
    await late.text();
  });

  test("a server whose operator did not allow it refuses firecracker deploys with a clear error", async () => {
    assert.ok(bundle.length > 0);
    const strict = await startCloudServer({ dataDir: join(t.root, "srv-strict") });
    try {
      const token = createToken(strict.dataDir, "bob");
      const published = await publishRaw(strict, token, "agent", bundle);
      assert.equal(published.register.status, 200, JSON.stringify(published.register.json));
      const deploy = await api(strict, token, "POST", "/sandbox-deploy", { region: "US", image: "agent", driver: "firecracker" });
      assert.equal(deploy.status, 422);
      assert.match(String(deploy.json.error ?? deploy.json.message), /this server cannot run firecracker sandboxes .*--firecracker-images-on-libvirt/);
      assert.deepEqual((await api(strict, token, "GET", "/deployed-sandboxes")).json, []);
    } finally {
      await strict.cleanup();
    }
  });
});
