// A firecracker sandbox's machine record (owner.json's "machine"): its one type, the one writer the
// boot uses and the one reader everything else uses, and the table of the files it keeps in the
// sandbox's folder, so each is named once.
import type { JsonObject } from "../../shared/json.js";
import type { OwnerRecord } from "../../state/records.js";
import { forwardsField, limitsField, limitsRecord, numberField, textField, type RecordedForwards, type RecordedLimits } from "../machine-record.js";

/** Files of a firecracker sandbox, inside its folder (Firecracker runs there, so names are relative). */
export const FIRECRACKER_FILES = {
  apiSocket: "firecracker.sock",
  vsockSocket: "vsock.sock",
  log: "firecracker.log",
  rootfs: "rootfs.ext4",
  configDrive: "config.tar",
  sftpLog: "workspace-sftp.log",
  tapPlan: "tap.json",
} as const;

export interface FirecrackerMachine {
  firecrackerPid: number | null;
  /** Firecracker's API socket and the guest's vsock socket, as absolute paths. */
  apiSocket: string | null;
  vsockSocket: string | null;
  vcpus: number | null;
  memoryMiB: number | null;
  network: "tap" | "none" | null;
  /** The host's TAP device (removed with the machine), when network is "tap". */
  tapDevice: string | null;
  forwards: RecordedForwards;
  /** What bounds the host-side processes (backends/vm-host-limits.ts), for get. */
  limits: RecordedLimits | null;
}

/** The reader: the record's fields, each validated (a wrong or missing one reads as null). */
export function readFirecrackerMachine(owner: Pick<OwnerRecord, "machine">): FirecrackerMachine {
  const raw = owner.machine;
  const network = textField(raw, "network");
  return {
    firecrackerPid: numberField(raw, "firecrackerPid"),
    apiSocket: textField(raw, "apiSocket"),
    vsockSocket: textField(raw, "vsockSocket"),
    vcpus: numberField(raw, "vcpus"),
    memoryMiB: numberField(raw, "memoryMiB"),
    network: network === "tap" || network === "none" ? network : null,
    tapDevice: textField(raw, "tapDevice"),
    forwards: forwardsField(raw),
    limits: limitsField(raw),
  };
}

/** The writer: what the boot puts in owner.json. */
export function firecrackerMachineRecord(machine: FirecrackerMachine): JsonObject {
  const { firecrackerPid, apiSocket, vsockSocket, vcpus, memoryMiB, network, tapDevice, forwards } = machine;
  return { firecrackerPid, apiSocket, vsockSocket, vcpus, memoryMiB, network, tapDevice, forwards, limits: limitsRecord(machine.limits) };
}
