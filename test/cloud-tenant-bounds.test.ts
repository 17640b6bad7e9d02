// A cloud tenant against a real `heyvm server` on 127.0.0.1 (issue 19, "A tenant must not read the
// host or take its resources"): published disks that name host files are refused, the server's
// memory stays bounded whatever its clients do, sessions and execs are capped, storage is counted
// per token, failed deployments show no host paths, and public endpoints have their own host names.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "tar";
import { hasCommand } from "./helpers/env.js";
import { api, createToken, startCloudServer, type CloudServer } from "./helpers/cloud-server.js";

const sha256 = (data: Buffer): string => createHash("sha256").update(data).digest("hex");

const imageToolsSkip = ["bwrap", "qemu-img", "prlimit"].find((tool) => !hasCommand(tool));
const imageSkip = imageToolsSkip ? `${imageToolsSkip} is not installed` : false;

/** What a host file looks like from outside: owner, mode, ACL and content. */
function hostFileFacts(path: string): string {
  const stat = statSync(path);
  const acl = spawnSync("getfacl", ["-cp", path], { encoding: "utf8" }).stdout ?? "";
  return JSON.stringify({ uid: stat.uid, gid: stat.gid, mode: stat.mode, acl, content: readFileSync(path, "utf8") });
}

describe("published images name no host file", { skip: imageSkip }, () => {
  let server: CloudServer;
  let token = "";
  const root = mkdtempSync(join(tmpdir(), "heyvm-tenant-image-"));
  const hostFile = join(root, "host-secret");

  before(async () => {
    writeFileSync(hostFile, "");
    chmodSync(hostFile, 0o600);
    server = await startCloudServer({ dataDir: join(root, "srv"), args: ["--firecracker-images-on-libvirt"] });
    token = createToken(server.dataDir, "mallory");
  });
  after(async () => {
    await server?.cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  /** A bundle as `--publish-image` makes it: image.json and the files it names, the rootfs given. */
  async function bundle(backend: "libvirt" | "firecracker", name: string, rootfs: string, boot: Record<string, unknown> | undefined): Promise<Buffer> {
    const dir = join(root, `bundle-${name}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "vmlinux"), "not really a kernel\n");
    writeFileSync(join(dir, "rootfs.ext4"), readFileSync(rootfs));
    const checksums = { kernel: sha256(readFileSync(join(dir, "vmlinux"))), rootfs: sha256(readFileSync(join(dir, "rootfs.ext4"))) };
    const manifest = { name, backend, createdAt: new Date().toISOString(), files: { kernel: "vmlinux", rootfs: "rootfs.ext4" }, checksums, sizeBytes: 1, details: boot ? { boot } : {} };
    writeFileSync(join(dir, "image.json"), JSON.stringify(manifest));
    const out = join(root, `${name}.tar.gz`);
    await create({ file: out, cwd: dir, gzip: true, portable: true }, ["image.json", "vmlinux", "rootfs.ext4"]);
    return readFileSync(out);
  }

  async function publish(backend: "libvirt" | "firecracker", name: string, bytes: Buffer) {
    const presign = await api(server, token, "POST", "/images/presign", { name, backend_type: backend, size_bytes: bytes.length, sha256: sha256(bytes) });
    assert.equal(presign.status, 200, JSON.stringify(presign.json));
    const put = await fetch(String(presign.json.upload_url), { method: "PUT", headers: { "content-type": "application/gzip" }, body: bytes });
    assert.equal(put.status, 200, await put.text());
    return api(server, token, "POST", `/images/${String(presign.json.image_id)}/register`, {});
  }

  function qemuImgCreate(file: string, ...options: string[]): string {
    const result = spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", ...options, file, "1M"], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stderr);
    return file;
  }

  test("a disk whose backing file, data file or format is not what image.json says is refused, and the host file is untouched", async () => {
    const backing = qemuImgCreate(join(root, "backing.qcow2"), "-b", hostFile, "-F", "raw");
    const dataFile = qemuImgCreate(join(root, "datafile.qcow2"), "-o", `data_file=${hostFile},data_file_raw=on`);
    writeFileSync(hostFile, "root-only host secret\n".repeat(100)); // making the data-file disk zeroed it
    const facts = hostFileFacts(hostFile);
    const raw = join(root, "plain.raw");
    writeFileSync(raw, Buffer.alloc(1024 * 1024));
    const vmdk = join(root, "extent.vmdk");
    writeFileSync(vmdk, `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 1 FLAT "${hostFile}" 0\n`);
    const cases: Array<{ what: string; backend: "libvirt" | "firecracker"; rootfs: string; boot?: Record<string, unknown>; refusal: RegExp }> = [
      { what: "qcow2 backed by a host file (format not declared: qcow2)", backend: "libvirt", rootfs: backing, refusal: /backing file/ },
      { what: "qcow2 backed by a host file, declared qcow2", backend: "libvirt", rootfs: backing, boot: { rootfsFormat: "qcow2" }, refusal: /backing file/ },
      { what: "qcow2 backed by a host file, declared raw", backend: "libvirt", rootfs: backing, boot: { rootfsFormat: "raw" }, refusal: /backing file/ },
      { what: "qcow2 with a host file as its external data file", backend: "libvirt", rootfs: dataFile, refusal: /external data file/ },
      { what: "raw declared as qcow2", backend: "libvirt", rootfs: raw, refusal: /is raw, not the qcow2/ },
      { what: "a vmdk descriptor naming a host file, declared raw", backend: "libvirt", rootfs: vmdk, boot: { rootfsFormat: "raw" }, refusal: /not the raw|cannot read/ },
      { what: "firecracker image backed by a host file", backend: "firecracker", rootfs: backing, boot: { rootfsFormat: "raw" }, refusal: /backing file/ },
      { what: "firecracker image that does not declare raw", backend: "firecracker", rootfs: raw, refusal: /root disk is raw/ },
    ];
    for (const [index, item] of cases.entries()) {
      const name = `evil${index}`;
      const register = await publish(item.backend, name, await bundle(item.backend, name, item.rootfs, item.boot));
      assert.equal(register.status, 422, `${item.what}: ${JSON.stringify(register.json)}`);
      assert.match(String(register.json.error), item.refusal, item.what);
      assert.equal(register.json.code, "image_rejected", item.what);
      const deploy = await api(server, token, "POST", "/sandbox-deploy", { region: "US", image: name, driver: item.backend });
      assert.notEqual(deploy.status, 202, `${item.what}: no deployment starts with it (${JSON.stringify(deploy.json)})`);
    }
    assert.deepEqual((await api(server, token, "GET", "/public-images")).json, { images: [] }, "none was registered");
    assert.deepEqual((await api(server, token, "GET", "/deployed-sandboxes")).json, [], "no deployment was made");
    assert.equal(hostFileFacts(hostFile), facts, "owner, mode, ACL and content of the host file are unchanged");

    // a standalone disk of the declared format still registers
    const good = await publish("libvirt", "good", await bundle("libvirt", "good", raw, { rootfsFormat: "raw" }));
    assert.equal(good.status, 200, JSON.stringify(good.json));
  });
});
