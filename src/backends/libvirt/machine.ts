// A libvirt sandbox's machine record (owner.json's "machine"): its one type, the one writer the
// boot uses and the one reader everything else uses, and the table of the files it keeps in the
// sandbox's folder, so each is named once.
import type { JsonObject } from "../../shared/json.js";
import type { OwnerRecord } from "../../state/records.js";
import { forwardsField, limitsField, limitsRecord, numberField, textField, type RecordedForwards, type RecordedLimits } from "../machine-record.js";

/** The files a libvirt sandbox keeps in its folder beside SandboxDir's. */
export const LIBVIRT_FILES = {
  /** The guest's serial console, which QEMU writes and the owner follows into owner.log. */
  serialLog: "serial.log",
  /** The domain as defined (for reading; libvirt has its own copy). */
  domainXml: "domain.xml",
  passtLog: "passt.log",
  /** passt's socket and pid file (a short folder in /tmp when this path is too long for a socket). */
  netDir: "net",
  passtSocket: "passt.sock",
  passtPid: "passt.pid",
  /** heyvm's own virtiofsd's sockets (virtiofsd-<tag>.log beside). */
  shareDir: "fs",
} as const;

export interface LibvirtMachine {
  /** The domain's name (heyvm-<id>). */
  domain: string | null;
  /** The libvirt connection it was defined on. */
  uri: string | null;
  accel: "kvm" | "tcg" | null;
  qemuPid: number | null;
  passtPid: number | null;
  forwards: RecordedForwards;
  /** What bounds the host-side processes (backends/vm-host-limits.ts), for get. */
  limits: RecordedLimits | null;
}

/** The reader: the record's fields, each validated (a wrong or missing one reads as null). */
export function readLibvirtMachine(owner: Pick<OwnerRecord, "machine">): LibvirtMachine {
  const raw = owner.machine;
  const accel = textField(raw, "accel");
  return {
    domain: textField(raw, "domain"),
    uri: textField(raw, "uri"),
    accel: accel === "kvm" || accel === "tcg" ? accel : null,
    qemuPid: numberField(raw, "qemuPid"),
    passtPid: numberField(raw, "passtPid"),
    forwards: forwardsField(raw),
    limits: limitsField(raw),
  };
}

/** The writer: what the boot puts in owner.json. */
export function libvirtMachineRecord(machine: LibvirtMachine): JsonObject {
  const { domain, uri, accel, qemuPid, passtPid, forwards } = machine;
  return { domain, uri, accel, qemuPid, passtPid, forwards, limits: limitsRecord(machine.limits) };
}
