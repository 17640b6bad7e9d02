// Firecracker's HTTP API on its unix socket (src/firecracker/swagger/firecracker.yaml): JSON
// bodies with a Content-Length, 204 on success, 400 with {"fault_message"} when a request is
// refused. And what heyvm sends to configure and start a machine, as plain data, so tests can
// compare it with what a Firecracker (or the stand-in) was really sent.
import { openSync } from "node:fs";
import { request } from "node:http";
import { basename, dirname } from "node:path";
import { OperationFailedError } from "../../shared/errors.js";
import type { JsonObject } from "../../shared/json.js";

export interface ApiCall {
  method: "GET" | "PUT" | "PATCH";
  path: string;
  body?: JsonObject;
}

/** A request Firecracker refused; fault is its fault_message. */
export class FirecrackerApiError extends OperationFailedError {
  readonly status: number;
  readonly fault: string;
  constructor(call: ApiCall, status: number, fault: string) {
    super(`Firecracker refused ${call.method} ${call.path} (${status}): ${fault}`, "see firecracker.log in the sandbox folder (`heyvm logs <id>` shows the console)");
    this.name = "FirecrackerApiError";
    this.status = status;
    this.fault = fault;
  }
}

/** sockaddr_un holds 108 bytes with the terminating NUL. */
const SUN_PATH_MAX = 107;
const folderFds = new Map<string, number>();

/**
 * A path that connect() accepts for a socket whose absolute path is too long for sockaddr_un:
 * its folder, opened once (close-on-exec), reached through /proc/self/fd.
 */
export function connectablePath(path: string): string {
  if (Buffer.byteLength(path) <= SUN_PATH_MAX) return path;
  const folder = dirname(path);
  let fd = folderFds.get(folder);
  if (fd === undefined) {
    fd = openSync(folder, "r");
    folderFds.set(folder, fd);
  }
  return `/proc/self/fd/${fd}/${basename(path)}`;
}

/** Sends one request; resolves with the parsed answer, throws FirecrackerApiError on a refusal. */
export function callApi(socketPath: string, call: ApiCall, timeoutMs = 10_000): Promise<JsonObject | undefined> {
  const body = call.body === undefined ? undefined : JSON.stringify(call.body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: connectablePath(socketPath),
        method: call.method,
        path: call.path,
        headers: { Accept: "application/json", ...(body === undefined ? {} : { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) }) },
        timeout: timeoutMs,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          const status = response.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve(typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as JsonObject) : undefined);
            return;
          }
          const fault = typeof parsed === "object" && parsed !== null && "fault_message" in parsed ? String((parsed as { fault_message: unknown }).fault_message) : text.trim() || `HTTP ${status}`;
          reject(new FirecrackerApiError(call, status, fault));
        });
        response.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new OperationFailedError(`Firecracker did not answer ${call.method} ${call.path} within ${timeoutMs / 1000} s`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** What one Firecracker machine is made of (paths as Firecracker, started in the sandbox folder, sees them). */
export interface MachinePlan {
  kernel: string;
  initrd: string | null;
  bootArgs: string;
  rootfs: string;
  configDrive: string;
  vcpus: number;
  memoryMiB: number;
  /** The hybrid-vsock socket, relative to the sandbox folder. */
  vsockUds: string;
  guestCid: number;
  /** Firecracker's own log, relative to the sandbox folder (it must exist). */
  logPath: string;
  /** A TAP device for outbound network, when heyvm could make one. */
  tap: { hostDevName: string; guestMac: string } | null;
}

/** The configuration requests, in order, that precede InstanceStart. */
export function configurationCalls(plan: MachinePlan): ApiCall[] {
  const calls: ApiCall[] = [
    { method: "PUT", path: "/logger", body: { log_path: plan.logPath, level: "Info", show_level: true, show_log_origin: false } },
    { method: "PUT", path: "/boot-source", body: { kernel_image_path: plan.kernel, ...(plan.initrd ? { initrd_path: plan.initrd } : {}), boot_args: plan.bootArgs } },
    { method: "PUT", path: "/drives/rootfs", body: { drive_id: "rootfs", path_on_host: plan.rootfs, is_root_device: true, is_read_only: false } },
    { method: "PUT", path: "/drives/config", body: { drive_id: "config", path_on_host: plan.configDrive, is_root_device: false, is_read_only: true } },
    { method: "PUT", path: "/machine-config", body: { vcpu_count: plan.vcpus, mem_size_mib: plan.memoryMiB, smt: false } },
    { method: "PUT", path: "/vsock", body: { guest_cid: plan.guestCid, uds_path: plan.vsockUds } },
  ];
  if (plan.tap) calls.push({ method: "PUT", path: "/network-interfaces/eth0", body: { iface_id: "eth0", host_dev_name: plan.tap.hostDevName, guest_mac: plan.tap.guestMac } });
  return calls;
}

export const INSTANCE_START: ApiCall = { method: "PUT", path: "/actions", body: { action_type: "InstanceStart" } };
export const SEND_CTRL_ALT_DEL: ApiCall = { method: "PUT", path: "/actions", body: { action_type: "SendCtrlAltDel" } };
