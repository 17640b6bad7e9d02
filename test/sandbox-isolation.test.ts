// What a bubblewrap sandbox can reach of its host, tried from inside as a hostile tenant would:
// root-only files when heyvm runs as root, the host's loopback and abstract unix sockets, host
// ports it might squat, and (through the real server) host services behind an endpoint. The
// peer "outside" is a host in a network namespace this test makes itself (veth, 198.18.x.y):
// traffic goes only to 127.0.0.0/8 and to that namespace.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HEYVM, bubblewrapMissing, isAlive, makeRepo, makeTestEnv, ownerPids, waitFor, type TestEnv, idOf } from "./helpers/env.js";
import { netnsMissing, startTestNetwork, type TestNetwork } from "./helpers/netns.js";
import { api, createToken, loopbackUrl, startCloudServer, uploadArchive, type CloudServer } from "./helpers/cloud-server.js";
import { makeTarGz } from "./helpers/cloud-tar.js";

const isRoot = process.getuid?.() === 0;
// the probes inside are small node scripts: node must be where the sandbox sees the host's /usr
const nodeInside = process.execPath.startsWith("/usr/") ? process.execPath : undefined;
const skip = bubblewrapMissing() || (nodeInside ? false : `node (${process.execPath}) is not under /usr, so sandboxes cannot run the probes`);

/** A node one-liner that connects and prints what it hears, or the error code (exit 3). */
function connectProbe(host: string, port: number): string[] {
  const script = `const s=require("net").connect(${port},${JSON.stringify(host)});let d="";s.setTimeout(4000,()=>{console.log("TIMEOUT");process.exit(3)});s.on("data",c=>d+=c);s.on("end",()=>{console.log(d.trim());process.exit(0)});s.on("error",e=>{console.log(e.code);process.exit(3)})`;
  return [nodeInside ?? "node", "-e", script];
}

/** A TCP server on the host that greets every connection with `text`. */
function greeter(host: string, text: string): Promise<Server & { port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.end(`${text}\n`));
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      resolve(Object.assign(server, { port: typeof address === "object" && address ? address.port : 0 }));
    });
  });
}

function freePort(): Promise<number> {
  return greeter("127.0.0.1", "").then((server) => new Promise((resolve) => server.close(() => resolve(server.port))));
}

function ownerMachine(t: TestEnv, id: string): Record<string, unknown> {
  return (JSON.parse(readFileSync(join(t.home, "sandboxes", id, "owner.json"), "utf8")) as { machine: Record<string, unknown> }).machine;
}

describe("a bubblewrap sandbox reaches nothing of its host it was not given", { skip }, () => {
  let t: TestEnv;
  let hostOnly: Server & { port: number };
  const abstractName = `heyvm-test-${randomBytes(4).toString("hex")}`;
  let abstract: Server;
  let id = "";
  const inside = (command: string[], sandbox = id) => t.run(["exec", sandbox, "--", ...command]);

  before(async () => {
    t = makeTestEnv();
    hostOnly = await greeter("127.0.0.1", "host-only service");
    abstract = createServer((socket) => socket.end("host abstract socket\n"));
    await new Promise<void>((resolve) => abstract.listen(`\0${abstractName}`, resolve));
    const started = await t.run(["wt", "iso/default", "--detach"]);
    assert.equal(started.code, 0, started.stderr);
    id = idOf(started.stdout);
  });
  after(async () => {
    await t.cleanup();
    hostOnly?.close();
    abstract?.close();
  });

  test("as root, heyo is not root on the host: root-only files under /etc and /usr stay unreadable", { skip: isRoot ? false : "only meaningful when heyvm runs as root" }, async () => {
    const secrets = [`/etc/heyvm-test-${randomBytes(4).toString("hex")}.key`, `/usr/share/heyvm-test-${randomBytes(4).toString("hex")}.key`];
    try {
      for (const path of secrets) {
        writeFileSync(path, "root-only secret\n", { mode: 0o600 });
        chmodSync(path, 0o600);
      }
      assert.equal((await inside(["id", "-u"])).stdout.trim(), "1000");
      const hostUid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${String(ownerMachine(t, id).initPid)}/status`, "utf8"))?.[1];
      assert.notEqual(hostUid, "0", "the sandbox's processes are not root on the host");
      // the host's /etc is bound whole at /run/host/etc (/etc links into it): a file made there
      // after the sandbox started is seen at that path
      const insidePath = (path: string) => (path.startsWith("/etc/heyvm-test-") ? `/run/host${path}` : path);
      for (const path of ["/etc/shadow", "/etc/gshadow", ...secrets].filter((p) => existsSync(p))) {
        const read = await inside(["cat", insidePath(path)]);
        assert.notEqual(read.code, 0, `${path} is not readable inside`);
        assert.match(read.stderr, /Permission denied/, path);
        assert.doesNotMatch(read.stdout, /root|secret/, path);
      }
      const write = await inside(["sh", "-c", `echo planted >> ${insidePath(secrets[0] ?? "")}`]);
      assert.notEqual(write.code, 0, "nor writable");
      assert.equal(readFileSync(secrets[0] ?? "", "utf8"), "root-only secret\n");
      // what the sandbox is given stays its own: /workspace is writable, and the host user keeps it
      const made = await inside(["sh", "-c", "echo made inside > /workspace/inside.txt && git -C /workspace add inside.txt && git -C /workspace commit -qm inside && echo ok"]);
      assert.equal(made.stdout.trim(), "ok", made.stderr);
      const worktree = join(t.root, "iso-default");
      assert.equal(readFileSync(join(worktree, "inside.txt"), "utf8"), "made inside\n");
      writeFileSync(join(worktree, "inside.txt"), "changed on the host\n");
      assert.equal((await inside(["cat", "/workspace/inside.txt"])).stdout, "changed on the host\n");
    } finally {
      for (const path of secrets) rmSync(path, { force: true });
    }
  });

  test("the host's 127.0.0.1 and its abstract unix sockets are out of reach by default", async () => {
    assert.equal(spawnSync("grep", ["-c", abstractName, "/proc/net/unix"], { encoding: "utf8" }).stdout.trim(), "1", "the host lists its abstract socket");
    const loopback = await inside(connectProbe("127.0.0.1", hostOnly.port));
    assert.equal(loopback.code, 3, loopback.stdout);
    assert.equal(loopback.stdout.trim(), "ECONNREFUSED", "127.0.0.1 inside is the sandbox's own");
    const sockets = await inside(["cat", "/proc/net/unix"]);
    assert.equal(sockets.code, 0, sockets.stderr);
    assert.doesNotMatch(sockets.stdout, new RegExp(abstractName));
    const devices = await inside(["sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort"]);
    assert.ok(devices.stdout.trim().split("\n").length >= 2, `its own loopback and a pasta interface: ${devices.stdout}`);
  });

  test("a port bound inside is the sandbox's own: it never takes the host's (nor the server's) port", async () => {
    const port = await freePort();
    const script = `require("net").createServer().listen(${port},"127.0.0.1",()=>console.log("bound"));setTimeout(()=>process.exit(0),8000)`;
    const squatter = t.spawn(["exec", id, "--", nodeInside ?? "node", "-e", script]);
    let said = "";
    squatter.stdout?.setEncoding("utf8").on("data", (chunk: string) => (said += chunk));
    try {
      await waitFor(() => said.includes("bound"), 10_000, "the sandbox to bind the port");
      const taken = createServer();
      const result = await new Promise<string>((resolve) => {
        taken.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"));
        taken.listen(port, "127.0.0.1", () => resolve("listening"));
      });
      taken.close();
      assert.equal(result, "listening", `the host can still listen on 127.0.0.1:${port}`);
    } finally {
      squatter.kill("SIGKILL");
    }
  });

  describe("with a peer outside (a host in a network namespace of its own)", { skip: netnsMissing() }, () => {
    let peer: TestNetwork | undefined;
    before(async () => {
      peer = await startTestNetwork({ ownHost: false });
    });
    after(async () => {
      await peer?.cleanup();
    });

    test("network on: the peer is reachable, the host's 127.0.0.1 is not", async () => {
      assert.ok(peer);
      const out = await inside(connectProbe(peer.peerAddress, peer.peerPort));
      assert.equal(out.stdout.trim(), "hello from the peer", out.stderr);
      assert.equal((await inside(connectProbe("127.0.0.1", hostOnly.port))).stdout.trim(), "ECONNREFUSED");
    });

    test("--no-network reaches neither; --network host shares the host's network, with a warning", async () => {
      assert.ok(peer);
      const cut = await t.run(["wt", "iso/none", "--detach", "--no-network"]);
      assert.equal(cut.code, 0, cut.stderr);
      const none = await inside(connectProbe(peer.peerAddress, peer.peerPort), idOf(cut.stdout));
      assert.equal(none.code, 3);
      assert.match(none.stdout, /ENETUNREACH|EHOSTUNREACH|TIMEOUT/);
      assert.equal((await inside(connectProbe("127.0.0.1", hostOnly.port), idOf(cut.stdout))).stdout.trim(), "ECONNREFUSED");
      const shared = await t.run(["wt", "iso/host", "--detach", "--network", "host"]);
      assert.equal(shared.code, 0, shared.stderr);
      assert.equal(shared.stderr.split("\n").filter((line) => line.startsWith("warning: --network host")).length, 1, shared.stderr);
      const host = await inside(connectProbe("127.0.0.1", hostOnly.port), idOf(shared.stdout));
      assert.equal(host.stdout.trim(), "host-only service", "today's sharing, when asked for");
      const wrong = await t.run(["wt", "iso/wrong", "--detach", "--network", "bridge"]);
      assert.equal(wrong.code, 2);
      assert.match(wrong.stderr, /--network takes outbound, none, host/);
      for (const sandbox of [idOf(cut.stdout), idOf(shared.stdout)]) await t.run(["stop", sandbox]);
    });
  });

  describe("on a host of its own (heyvm in a network namespace whose way out is the peer)", { skip: netnsMissing() }, () => {
    let network: TestNetwork | undefined;
    before(async () => {
      network = await startTestNetwork({ ownHost: true });
    });
    after(async () => {
      await network?.cleanup();
    });

    test("DNS goes to the host's resolver, even through an address that is nobody's", async () => {
      assert.ok(network);
      const prefix = network.wrap([]);
      const started = await t.run(["wt", "iso/dns", "--detach"], { prefix });
      assert.equal(started.code, 0, started.stderr);
      const sandbox = idOf(started.stdout);
      const resolv = await t.run(["exec", sandbox, "--", "cat", "/etc/resolv.conf"], { prefix });
      const server = /^nameserver (\S+)/m.exec(resolv.stdout)?.[1];
      assert.ok(server, resolv.stdout);
      const query = `const s=require("dgram").createSocket("udp4");s.on("message",m=>{console.log(String(m));process.exit(0)});setTimeout(()=>{console.log("TIMEOUT");process.exit(3)},4000);s.send("query",53,${JSON.stringify(server)})`;
      const answer = await t.run(["exec", sandbox, "--", nodeInside ?? "node", "-e", query], { prefix });
      assert.equal(answer.stdout.trim(), "dns:query", "the host's resolver (the peer, here) answered");
      const loopback = await t.run(["exec", sandbox, "--", ...connectProbe("127.0.0.1", network.hostOnlyPort ?? 0)], { prefix });
      assert.equal(loopback.stdout.trim(), "ECONNREFUSED", "its host's 127.0.0.1 service stays out of reach");
      await t.run(["stop", sandbox], { prefix });
    });
  });
});

describe("heyvm run by a regular user", { skip: skip || (isRoot ? false : "needs root to make a folder for another user") }, () => {
  // nobody (65534): no capabilities, no ranges in /etc/subuid, nothing of its own but this folder
  const NOBODY = 65534;
  let root = "";
  const runAsNobody = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(HEYVM, args, { cwd: join(root, "repo"), uid: NOBODY, gid: NOBODY, env: { PATH: process.env.PATH, HOME: join(root, "home"), HEYO_HOME: join(root, "heyo") }, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
  before(() => {
    root = mkdtempSync(join(tmpdir(), "heyvm-nobody-"));
    makeRepo(join(root, "repo"));
    mkdirSync(join(root, "home"));
    spawnSync("chown", ["-R", `${NOBODY}:${NOBODY}`, root]);
  });
  after(async () => {
    const pids = ownerPids(join(root, "heyo"));
    for (const pid of pids) process.kill(pid, "SIGTERM");
    await waitFor(() => pids.every((pid) => !isAlive(pid)), 20_000, "owners to stop").catch(() => pids.forEach((pid) => isAlive(pid) && process.kill(pid, "SIGKILL")));
    rmSync(root, { recursive: true, force: true });
  });

  test("gets a sandbox as itself, and exec and shell enter it, with and without network", async () => {
    for (const [branch, flags] of [["mine/default", []], ["mine/none", ["--no-network"]]] as const) {
      const started = await runAsNobody(["wt", branch, "--detach", ...flags]);
      assert.equal(started.code, 0, started.stderr);
      const sandbox = idOf(started.stdout);
      const inside = await runAsNobody(["exec", sandbox, "--", "sh", "-c", "id -u; echo made > /workspace/by-nobody.txt; tail -n +3 /proc/net/dev | wc -l"]);
      assert.equal(inside.code, 0, inside.stderr);
      const [uid, devices] = inside.stdout.trim().split("\n");
      assert.equal(uid, "1000");
      assert.equal(Number(devices), flags.length ? 1 : 2, "only its loopback without network, its own interface with it");
      const file = join(root, branch.replace("/", "-"), "by-nobody.txt");
      assert.equal(statSync(file).uid, NOBODY, "what it makes is its own on the host");
      assert.equal((await runAsNobody(["stop", sandbox])).code, 0);
    }
  });
});

describe("the server's endpoints reach a bubblewrap sandbox's own ports, never the host's", { skip }, () => {
  let server: CloudServer;
  let token = "";
  let hostOnly: HttpServer;
  let hostPort = 0;
  const dataDir = mkdtempSync(join(tmpdir(), "heyvm-cloud-iso-"));

  before(async () => {
    server = await startCloudServer({ dataDir });
    token = createToken(dataDir, "tenant");
    // a host-only web service: what an endpoint on its port must never serve
    hostOnly = createHttpServer((_request, response) => response.end("host-only service\n"));
    await new Promise<void>((resolve) => hostOnly.listen(0, "127.0.0.1", resolve));
    const address = hostOnly.address();
    hostPort = typeof address === "object" && address ? address.port : 0;
  });
  after(async () => {
    await server?.cleanup();
    hostOnly?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("an open port is forwarded into the sandbox; an endpoint on any other port gets 502, not a host service", async () => {
    const { archiveId } = await uploadArchive(server, token, makeTarGz([{ path: "workspace/", type: "dir" }, { path: "workspace/page.txt", content: "from inside the sandbox\n" }]));
    const serve = `exec ${nodeInside ?? "node"} -e 'require("http").createServer((q,r)=>r.end(require("fs").readFileSync("page.txt"))).listen(8080)'`;
    const created = await api(server, token, "POST", "/sandbox-deploy", { region: "US", image: "ubuntu:24.04", size_class: "small", open_ports: [8080], driver: "bubblewrap", archive_id: archiveId, start_command: serve });
    assert.equal(created.status, 202, JSON.stringify(created.json));
    const sandbox = String(created.json.id);
    await waitFor(async () => (await api(server, token, "GET", `/deployed-sandboxes/${sandbox}`)).json.status === "running", 30_000, "the sandbox to run");
    const view = await api(server, token, "GET", `/deployed-sandboxes/${sandbox}`);
    const first = (view.json.urls as Array<{ url: string }>)[0]?.url;
    assert.ok(first, JSON.stringify(view.json));
    const url = loopbackUrl(first);
    let body = "";
    await waitFor(async () => {
      const answer = await fetch(url).catch(() => undefined);
      body = answer?.ok ? await answer.text() : "";
      return body !== "";
    }, 15_000, "the sandbox's server to answer through the endpoint");
    assert.equal(body, "from inside the sandbox\n");
    const other = await api(server, token, "POST", "/proxy-endpoints/for-deployed", { sandbox_id: sandbox, port: hostPort, is_public: true });
    assert.equal(other.status, 200, JSON.stringify(other.json));
    const answer = await fetch(loopbackUrl(String(other.json.url)));
    const text = await answer.text();
    assert.equal(answer.status, 502, text);
    assert.doesNotMatch(text, /host-only service/);
    await api(server, token, "POST", `/sandbox/${sandbox}/stop`);
  });
});
