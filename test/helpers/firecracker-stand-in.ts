// A STAND-IN FOR FIRECRACKER, for tests on hosts without Firecracker (this machine has no
// Firecracker binary, and its KVM cannot boot a stock kernel). It is not Firecracker and never
// claims to be: `--version` says "stand-in", and heyvm's probe marks it degraded.
//
// What it does, in two halves:
// 1. It speaks Firecracker's HTTP API on the --api-sock unix socket with Firecracker's documented
//    rules (docs/api_requests/, src/firecracker/swagger/firecracker.yaml): the methods and paths,
//    required fields and unknown fields refused, a Content-Length required on every body, 204 on
//    success and 400 {"fault_message"} on error, pre-boot-only calls refused after InstanceStart
//    (and post-boot-only ones before it), files checked when they are configured, a vsock socket
//    that must not exist yet. Every request is recorded (JSON lines in stand-in-requests.jsonl
//    beside the API socket) so tests can assert the sequence heyvm sends.
// 2. On InstanceStart it boots the configured kernel, initrd and drives under QEMU's `microvm`
//    machine (virtio-mmio, ACPI, i8042 for SendCtrlAltDel; KVM where it works, else TCG), with
//    the serial console on its stdout like Firecracker. QEMU here has no vhost-vsock, so the
//    vsock device is replaced by the nearest transport QEMU offers for per-connection streams:
//    an isolated user-mode NIC (slirp, restrict=on: no route anywhere) whose host forwards
//    carry each host-initiated vsock connection as one TCP connection to the same port number
//    in the guest. The hybrid-vsock protocol on uds_path is kept: `CONNECT <port>\n`, then
//    `OK <n>\n`. The guest is told with `heyvm.vsock=tcp` on its command line (the guest init
//    then listens on TCP instead of AF_VSOCK); under TCG `tsc_early_khz=` is added too, since
//    the guest cannot calibrate its clock against an emulated PIT reliably.
// HEYVM_STAND_IN_NO_BOOT=1 makes InstanceStart start nothing (API rules only, for fast tests).
// Not carried: guest-initiated vsock connections (uds_path_<port>), snapshots, balloon, MMDS,
// metrics, rate limiters. A guest port nobody listens on shows as a close just after `OK`
// (Firecracker closes before it): slirp accepts on the guest's behalf first.
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, readFileSync, rmSync, statSync, accessSync, constants } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { connect, createServer, type Server, type Socket } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { kvmStatus } from "../../src/backends/kvm.js";
import { freePort } from "../../src/shared/free-port.js";

export const STAND_IN_VERSION = "Firecracker v1.10.1 (heyvm stand-in: QEMU microvm, not Firecracker)";
export const RECORD_FILE = "stand-in-requests.jsonl";

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type Body = { [key: string]: Json };

/** One recorded exchange: what heyvm asked and what the stand-in answered. */
export interface RecordedRequest {
  kind: "api" | "vsock";
  method?: string;
  path?: string;
  body?: Json;
  status?: number;
  fault?: string;
  line?: string;
  at: number;
}

class Fault extends Error {}

interface Drive {
  drive_id: string;
  path_on_host: string;
  is_root_device: boolean;
  is_read_only: boolean;
}

interface State {
  started: boolean;
  logger?: Body;
  bootSource?: { kernel_image_path: string; initrd_path?: string; boot_args?: string };
  machine: { vcpu_count: number; mem_size_mib: number; smt: boolean };
  drives: Drive[];
  vsock?: { guest_cid: number; uds_path: string; server: Server };
  interfaces: Array<{ iface_id: string; host_dev_name: string; guest_mac?: string }>;
}

// ---- field checks, following the swagger definitions

type FieldType = "string" | "integer" | "boolean" | "object";

function checkFields(body: Body, what: string, fields: Record<string, { type: FieldType; required?: boolean; enum?: readonly string[] }>): void {
  for (const key of Object.keys(body)) {
    if (!(key in fields)) throw new Fault(`An error occurred when deserializing the json body of a request: unknown field \`${key}\` in ${what}.`);
  }
  for (const [key, rule] of Object.entries(fields)) {
    const value = body[key];
    if (value === undefined) {
      if (rule.required) throw new Fault(`An error occurred when deserializing the json body of a request: missing field \`${key}\` in ${what}.`);
      continue;
    }
    const ok =
      rule.type === "integer" ? typeof value === "number" && Number.isInteger(value) :
      rule.type === "object" ? typeof value === "object" && value !== null && !Array.isArray(value) :
      typeof value === rule.type;
    if (!ok) throw new Fault(`An error occurred when deserializing the json body of a request: invalid type for \`${key}\` in ${what}, expected ${rule.type}.`);
    if (rule.enum && !rule.enum.some((choice) => choice.toLowerCase() === String(value).toLowerCase())) {
      throw new Fault(`An error occurred when deserializing the json body of a request: unknown variant \`${String(value)}\` for \`${key}\`, expected one of ${rule.enum.join(", ")}.`);
    }
  }
}

function readable(path: string, what: string): void {
  try {
    accessSync(path, constants.R_OK);
    if (!statSync(path).isFile()) throw new Error("not a file");
  } catch (error) {
    throw new Fault(`${what} cannot be opened: ${path}: ${(error as Error).message}`);
  }
}

const BEFORE_START = "The requested operation is not supported before starting the microVM.";
const AFTER_START = "The requested operation is not supported after starting the microVM.";

// ---- the stand-in process

export async function runStandIn(argv: string[]): Promise<number> {
  let apiSock: string | undefined;
  let id = "anonymous-instance";
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--version") {
      process.stdout.write(`${STAND_IN_VERSION}\n`);
      return 0;
    }
    if (arg === "--api-sock") apiSock = argv[++i];
    else if (arg === "--id") id = argv[++i] ?? id;
    else {
      process.stderr.write(`Arguments parsing error: Found argument '${arg}' which wasn't expected.\n`);
      return 1;
    }
  }
  if (!apiSock) {
    process.stderr.write("Arguments parsing error: --api-sock is required by this stand-in.\n");
    return 1;
  }
  const recordPath = join(dirname(resolve(apiSock)), RECORD_FILE);
  const record = (entry: Omit<RecordedRequest, "at">) => appendFileSync(recordPath, `${JSON.stringify({ ...entry, at: Date.now() })}\n`);
  const state: State = { started: false, machine: { vcpu_count: 1, mem_size_mib: 128, smt: false }, drives: [], interfaces: [] };
  let qemu: ChildProcess | undefined;
  let qmp: Qmp | undefined;
  const forwards = new Map<number, Promise<number>>();
  let hostPorts = 1073741824;
  let exit: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolveExit) => (exit = resolveExit));

  const handle = async (method: string, path: string, body: Body | undefined): Promise<{ status: number; json?: Json }> => {
    const needBody = (): Body => {
      if (!body) throw new Fault("Empty PUT request.");
      return body;
    };
    const preBoot = () => {
      if (state.started) throw new Fault(AFTER_START);
    };
    const drive = /^\/drives\/([^/]+)$/.exec(path);
    const iface = /^\/network-interfaces\/([^/]+)$/.exec(path);
    if (method === "GET" && path === "/") return { status: 200, json: { id, state: state.started ? "Running" : "Not started", vmm_version: "1.10.1", app_name: "Firecracker" } };
    if (method === "GET" && path === "/version") return { status: 200, json: { firecracker_version: "1.10.1" } };
    if (method === "GET" && path === "/machine-config") return { status: 200, json: { ...state.machine, track_dirty_pages: false } };
    if (method === "PUT" && path === "/logger") {
      const b = needBody();
      preBoot();
      checkFields(b, "Logger", { log_path: { type: "string" }, level: { type: "string", enum: ["Error", "Warning", "Info", "Debug", "Trace", "Off"] }, show_level: { type: "boolean" }, show_log_origin: { type: "boolean" }, module: { type: "string" } });
      if (typeof b.log_path === "string" && !existsSync(b.log_path)) throw new Fault(`Logger error: Failed to open target file: No such file or directory (os error 2): ${b.log_path}`);
      state.logger = b;
      return { status: 204 };
    }
    if (method === "PUT" && path === "/boot-source") {
      const b = needBody();
      preBoot();
      checkFields(b, "BootSource", { kernel_image_path: { type: "string", required: true }, initrd_path: { type: "string" }, boot_args: { type: "string" } });
      readable(String(b.kernel_image_path), "The kernel file");
      if (b.initrd_path !== undefined) readable(String(b.initrd_path), "The initrd file");
      state.bootSource = { kernel_image_path: String(b.kernel_image_path), initrd_path: b.initrd_path === undefined ? undefined : String(b.initrd_path), boot_args: b.boot_args === undefined ? undefined : String(b.boot_args) };
      return { status: 204 };
    }
    if (method === "PUT" && drive) {
      const b = needBody();
      preBoot();
      checkFields(b, "Drive", {
        drive_id: { type: "string", required: true }, is_root_device: { type: "boolean", required: true }, path_on_host: { type: "string", required: true }, is_read_only: { type: "boolean", required: true },
        partuuid: { type: "string" }, cache_type: { type: "string", enum: ["Unsafe", "Writeback"] }, io_engine: { type: "string", enum: ["Sync", "Async"] }, rate_limiter: { type: "object" },
      });
      if (b.drive_id !== drive[1]) throw new Fault("The id from the path does not match the id from the body!");
      readable(String(b.path_on_host), "Unable to open the block device backing file: the file");
      if (b.is_root_device === true && state.drives.some((d) => d.is_root_device && d.drive_id !== b.drive_id)) throw new Fault("A root block device already exists!");
      const next: Drive = { drive_id: String(b.drive_id), path_on_host: String(b.path_on_host), is_root_device: b.is_root_device === true, is_read_only: b.is_read_only === true };
      const at = state.drives.findIndex((d) => d.drive_id === next.drive_id);
      if (at >= 0) state.drives[at] = next;
      else state.drives.push(next);
      return { status: 204 };
    }
    if (method === "PATCH" && drive) {
      const b = needBody();
      if (!state.started) throw new Fault(BEFORE_START);
      checkFields(b, "PartialDrive", { drive_id: { type: "string", required: true }, path_on_host: { type: "string" }, rate_limiter: { type: "object" } });
      if (!state.drives.some((d) => d.drive_id === drive[1])) throw new Fault(`Invalid block device ID: ${drive[1]}`);
      return { status: 204 };
    }
    if ((method === "PUT" || method === "PATCH") && path === "/machine-config") {
      const b = needBody();
      preBoot();
      checkFields(b, "MachineConfiguration", {
        vcpu_count: { type: "integer", required: method === "PUT" }, mem_size_mib: { type: "integer", required: method === "PUT" }, smt: { type: "boolean" },
        track_dirty_pages: { type: "boolean" }, cpu_template: { type: "string" }, huge_pages: { type: "string", enum: ["None", "Transparent", "2M"] },
      });
      const vcpus = typeof b.vcpu_count === "number" ? b.vcpu_count : state.machine.vcpu_count;
      const smt = b.smt === true;
      if (vcpus < 1 || vcpus > 32 || (smt && vcpus > 1 && vcpus % 2 !== 0)) throw new Fault("The vCPU number is invalid! The vCPU number can only be 1 or an even number when SMT is enabled.");
      const memory = typeof b.mem_size_mib === "number" ? b.mem_size_mib : state.machine.mem_size_mib;
      if (memory < 1) throw new Fault("The memory size (MiB) is invalid.");
      state.machine = { vcpu_count: vcpus, mem_size_mib: memory, smt };
      return { status: 204 };
    }
    if (method === "PUT" && path === "/vsock") {
      const b = needBody();
      preBoot();
      checkFields(b, "Vsock", { guest_cid: { type: "integer", required: true }, uds_path: { type: "string", required: true }, vsock_id: { type: "string" } });
      if (Number(b.guest_cid) < 3) throw new Fault(`Cannot create backend for vsock device: invalid guest CID ${String(b.guest_cid)}`);
      state.vsock?.server.close();
      const server = await listenVsock(String(b.uds_path), (socket, line) => onVsock(socket, line));
      state.vsock = { guest_cid: Number(b.guest_cid), uds_path: String(b.uds_path), server };
      return { status: 204 };
    }
    if (method === "PUT" && iface) {
      const b = needBody();
      preBoot();
      checkFields(b, "NetworkInterface", { iface_id: { type: "string", required: true }, host_dev_name: { type: "string", required: true }, guest_mac: { type: "string" }, mtu: { type: "integer" }, rx_rate_limiter: { type: "object" }, tx_rate_limiter: { type: "object" } });
      if (b.iface_id !== iface[1]) throw new Fault("The id from the path does not match the id from the body!");
      if (!existsSync(`/sys/class/net/${String(b.host_dev_name)}/tun_flags`)) throw new Fault(`Open tap device failed: ${String(b.host_dev_name)} is not a TAP device on this host`);
      state.interfaces.push({ iface_id: String(b.iface_id), host_dev_name: String(b.host_dev_name), guest_mac: b.guest_mac === undefined ? undefined : String(b.guest_mac) });
      return { status: 204 };
    }
    if (method === "PUT" && path === "/actions") {
      const b = needBody();
      checkFields(b, "InstanceActionInfo", { action_type: { type: "string", required: true, enum: ["FlushMetrics", "InstanceStart", "SendCtrlAltDel"] } });
      if (b.action_type === "InstanceStart") {
        preBoot();
        if (!state.bootSource) throw new Fault("Cannot start microvm without kernel configuration.");
        if (!state.drives.some((d) => d.is_root_device) && !/\broot=/.test(state.bootSource.boot_args ?? "")) throw new Fault("Cannot start microvm without a root device.");
        if (process.env.HEYVM_STAND_IN_NO_BOOT !== "1") {
          const started = await startQemu(state, (code) => exit(code));
          qemu = started.qemu;
          qmp = started.qmp;
        }
        state.started = true;
        return { status: 204 };
      }
      if (b.action_type === "SendCtrlAltDel") {
        if (!state.started) throw new Fault(BEFORE_START);
        await qmp?.command("send-key", { keys: ["ctrl", "alt", "delete"].map((data) => ({ type: "qcode", data })) });
        return { status: 204 };
      }
      return { status: 204 };
    }
    throw new Fault(`Invalid request method and/or path: ${method} ${path}.`);
  };

  const guestForward = (port: number): Promise<number> => {
    let known = forwards.get(port);
    if (!known) {
      known = (async () => {
        if (!qmp) throw new Error("the guest is not running");
        const host = await freePort();
        const reply = await qmp.command("human-monitor-command", { "command-line": `hostfwd_add vsock tcp:127.0.0.1:${host}-:${port}` });
        if (typeof reply === "string" && reply.trim()) throw new Error(reply.trim());
        return host;
      })();
      forwards.set(port, known);
      known.catch(() => forwards.delete(port));
    }
    return known;
  };

  const onVsock = (socket: Socket, line: string): void => {
    record({ kind: "vsock", line });
    const match = /^CONNECT (\d+)$/.exec(line);
    if (!match || !state.started) {
      socket.destroy();
      return;
    }
    const port = Number(match[1]);
    void guestForward(port).then(
      (host) => {
        const guest = connect(host, "127.0.0.1");
        guest.once("connect", () => {
          socket.write(`OK ${hostPorts++}\n`);
          socket.pipe(guest);
          guest.pipe(socket);
          socket.resume();
        });
        const end = () => {
          socket.destroy();
          guest.destroy();
        };
        guest.on("error", end);
        guest.on("close", end);
        socket.on("error", end);
        socket.on("close", end);
      },
      () => socket.destroy(),
    );
  };

  const api = createHttpServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      void (async () => {
        const method = request.method ?? "GET";
        const path = (request.url ?? "/").split("?")[0] ?? "/";
        const raw = Buffer.concat(chunks).toString("utf8");
        let body: Body | undefined;
        let answer: { status: number; json?: Json };
        try {
          if (raw.length > 0 && request.headers["content-length"] === undefined) throw new Fault("Content-Length header is required for a request with a body.");
          if (raw.trim().length > 0) {
            let parsed: unknown;
            try {
              parsed = JSON.parse(raw);
            } catch (error) {
              throw new Fault(`An error occurred when deserializing the json body of a request: ${(error as Error).message}.`);
            }
            if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Fault("An error occurred when deserializing the json body of a request: expected an object.");
            body = parsed as Body;
          }
          answer = await handle(method, path, body);
        } catch (error) {
          answer = { status: 400, json: { fault_message: error instanceof Fault ? error.message : `Internal error: ${(error as Error).message}` } };
        }
        record({ kind: "api", method, path, body: body ?? null, status: answer.status, fault: answer.status >= 400 && answer.json && typeof answer.json === "object" && !Array.isArray(answer.json) ? String(answer.json.fault_message) : undefined });
        if (answer.json === undefined) {
          response.writeHead(answer.status).end();
        } else {
          const text = JSON.stringify(answer.json);
          response.writeHead(answer.status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) }).end(text);
        }
      })();
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    api.once("error", reject);
    api.listen(apiSock, () => resolveListen());
  });

  const shutdown = (code: number) => {
    api.close();
    state.vsock?.server.close();
    if (qemu && qemu.exitCode === null) qemu.kill("SIGKILL");
    rmSync(apiSock, { force: true });
    if (state.vsock) rmSync(state.vsock.uds_path, { force: true });
    exit(code);
  };
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(signal, () => shutdown(0));
  const code = await exited;
  shutdown(code);
  return code;
}

/** Binds the hybrid-vsock socket (refusing one that exists, like Firecracker) and reads CONNECT lines. */
function listenVsock(path: string, onLine: (socket: Socket, line: string) => void): Promise<Server> {
  if (existsSync(path)) return Promise.reject(new Fault(`Cannot create backend for vsock device: UnixBind(Os { code: 98, kind: AddrInUse, message: "Address in use" }): ${path}`));
  const server = createServer((socket) => {
    let text = "";
    const onData = (chunk: Buffer) => {
      text += chunk.toString("latin1");
      const end = text.indexOf("\n");
      if (end < 0) {
        if (text.length > 64) socket.destroy();
        return;
      }
      socket.off("data", onData);
      socket.pause();
      const rest = Buffer.from(text.slice(end + 1), "latin1");
      if (rest.length > 0) socket.unshift(rest);
      onLine(socket, text.slice(0, end));
    };
    socket.on("data", onData);
    socket.on("error", () => socket.destroy());
  });
  return new Promise((resolveListen, reject) => {
    server.once("error", (error) => reject(new Fault(`Cannot create backend for vsock device: ${error.message}`)));
    server.listen(path, () => resolveListen(server));
  });
}


/** The host's TSC rate (TCG's guest TSC runs at it), for the guest's tsc_early_khz=. */
function hostTscKhz(): number | undefined {
  try {
    const mhz = /^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1];
    return mhz ? Math.round(Number(mhz) * 1000) : undefined;
  } catch {
    return undefined;
  }
}

/** A minimal QMP client: one command at a time, answers in order. */
class Qmp {
  private buffer = "";
  private waiting: Array<(reply: { return?: Json; error?: { desc?: string } }) => void> = [];
  constructor(private readonly socket: Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      this.buffer += chunk;
      let end: number;
      while ((end = this.buffer.indexOf("\n")) >= 0) {
        const line = this.buffer.slice(0, end).trim();
        this.buffer = this.buffer.slice(end + 1);
        if (!line) continue;
        const message = JSON.parse(line) as { return?: Json; error?: { desc?: string }; event?: string; QMP?: unknown };
        if (message.event || message.QMP) continue;
        this.waiting.shift()?.(message);
      }
    });
  }
  command(name: string, args?: Body): Promise<Json | undefined> {
    return new Promise((resolveCommand, reject) => {
      this.waiting.push((reply) => (reply.error ? reject(new Error(reply.error.desc ?? "QMP error")) : resolveCommand(reply.return)));
      this.socket.write(`${JSON.stringify(args ? { execute: name, arguments: args } : { execute: name })}\n`);
    });
  }
}

async function startQemu(state: State, onExit: (code: number) => void): Promise<{ qemu: ChildProcess; qmp: Qmp }> {
  const boot = state.bootSource;
  if (!boot) throw new Fault("Cannot start microvm without kernel configuration.");
  const kvm = kvmStatus().usable;
  const qmpPath = `stand-in-qmp-${process.pid}.sock`;
  rmSync(qmpPath, { force: true });
  const khz = kvm ? undefined : hostTscKhz();
  const append = [boot.boot_args ?? "", "heyvm.vsock=tcp", khz ? `tsc_early_khz=${khz}` : ""].filter(Boolean).join(" ");
  const args = [
    "--pdeathsig", "KILL", "--",
    "qemu-system-x86_64",
    "-machine", "microvm,x-option-roms=off,isa-serial=on,rtc=on",
    "-accel", kvm ? "kvm" : "tcg",
    "-cpu", kvm ? "host" : "max",
    "-smp", String(state.machine.vcpu_count),
    "-m", String(state.machine.mem_size_mib),
    "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
    "-kernel", boot.kernel_image_path,
    ...(boot.initrd_path ? ["-initrd", boot.initrd_path] : []),
    "-append", append,
    "-chardev", "stdio,id=serial,signal=off", "-serial", "chardev:serial",
    "-device", "i8042",
    "-qmp", `unix:${qmpPath},server=on,wait=off`,
  ];
  // Firecracker makes the root device /dev/vda, the others follow in the order they were put:
  // the guest enumerates microvm's virtio-mmio slots in the order the devices are created.
  const devices: string[][] = [];
  const drives = [...state.drives.filter((d) => d.is_root_device), ...state.drives.filter((d) => !d.is_root_device)];
  drives.forEach((drive, index) => {
    devices.push(["-drive", `id=drive${index},file=${drive.path_on_host},format=raw,if=none,readonly=${drive.is_read_only ? "on" : "off"}`, "-device", `virtio-blk-device,drive=drive${index}`]);
  });
  // the vsock carrier first, so that it is the guest's eth0 whatever TAP NICs follow
  if (state.vsock) devices.push(["-netdev", "user,id=vsock,restrict=on", "-device", "virtio-net-device,netdev=vsock"]);
  state.interfaces.forEach((iface, index) => {
    devices.push(["-netdev", `tap,id=net${index},ifname=${iface.host_dev_name},script=no,downscript=no`, "-device", `virtio-net-device,netdev=net${index}${iface.guest_mac ? `,mac=${iface.guest_mac}` : ""}`]);
  });
  for (const device of devices) args.push(...device);
  const qemu = spawn("setpriv", args, { stdio: ["pipe", "inherit", "inherit"] });
  qemu.on("exit", (code) => onExit(code === 0 ? 0 : 1));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (qemu.exitCode !== null) throw new Fault("QEMU exited while starting the microVM (see the console output)");
    if (existsSync(qmpPath)) {
      const socket = await new Promise<Socket | undefined>((resolveSocket) => {
        const attempt = connect(qmpPath);
        attempt.once("connect", () => resolveSocket(attempt));
        attempt.once("error", () => resolveSocket(undefined));
      });
      if (socket) {
        const qmp = new Qmp(socket);
        await qmp.command("qmp_capabilities");
        rmSync(qmpPath, { force: true });
        return { qemu, qmp };
      }
    }
    if (Date.now() > deadline) throw new Fault("QEMU did not open its monitor socket");
    await new Promise((resolveWait) => setTimeout(resolveWait, 20));
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runStandIn(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`firecracker stand-in: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
