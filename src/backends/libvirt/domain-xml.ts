// The libvirt domain of a VM sandbox: direct kernel boot (PVH vmlinux), a qcow2 overlay disk
// (which libvirt does not relabel: heyvm grants QEMU's account the overlay and its base itself,
// grantQemuDiskAccess, so libvirt never changes the owner of whatever the disk's chain names),
// /workspace (and the sandbox's git store) over virtiofs from heyvm's own virtiofsd (virtiofsd.ts), the per-sandbox config in fw_cfg, the
// serial console to a file, ACPI for graceful shutdown. libvirt's own user networking cannot
// forward ports and its passt backend is broken in 9.0, so the network is passed through
// <qemu:commandline>: by default a stream to heyvm's own passt (passt.ts), else QEMU's user
// networking with an SSH forward to 127.0.0.1 (restricted without network; open for --network
// host, whose gateway QEMU makes the host's loopback).

import { DEFAULT_VM_CMDLINE } from "../../images/vm/boot.js";

export interface DomainOptions {
  name: string;
  kvm: boolean;
  memoryMiB: number;
  vcpus: number;
  kernel: string;
  /** null: the kernel boots without one (a kernel with its drivers built in). */
  initrd: string | null;
  /** The kernel command line; the default image's when not given. */
  cmdline?: string;
  disk: string;
  /**
   * The system daemon relabels disks for QEMU's account unless told not to (heyvm grants access
   * itself); a session daemon runs QEMU as the user and has no DAC security driver to name.
   */
  diskSeclabel: boolean;
  serialLog: string;
  sshPort: number;
  /** Further guest TCP ports forwarded to 127.0.0.1 on the host. */
  forwards: Array<{ host: number; guest: number }>;
  /** Outbound network for the guest; without it QEMU's user network is restricted (SSH still forwarded). */
  network: boolean;
  /** passt's unix socket: the guest's network is then passt's (it forwards SSH and the ports itself). */
  passtSocket?: string;
  /** Each share's virtiofsd socket (heyvm starts virtiofsd itself: virtiofsd.ts). */
  shares: Array<{ socket: string; tag: string }>;
  firmwareConfig: Array<{ name: string; file: string }>;
}

function netdev(options: DomainOptions): string {
  // QEMU option values escape a comma by doubling it
  if (options.passtSocket) return `stream,id=heyvmnet,server=off,addr.type=unix,addr.path=${options.passtSocket.replace(/,/g, ",,")}`;
  const forwards = [{ host: options.sshPort, guest: 22 }, ...options.forwards].map((f) => `,hostfwd=tcp:127.0.0.1:${f.host}-:${f.guest}`).join("");
  return `user,id=heyvmnet,restrict=${options.network ? "off" : "on"}${forwards}`;
}

function escape(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/'/g, "&apos;").replace(/"/g, "&quot;");
}

export function domainXml(options: DomainOptions): string {
  const e = escape;
  const shares = options.shares
    .map(
      (share) => `    <filesystem type='mount'>
      <driver type='virtiofs' queue='1024'/>
      <source socket='${e(share.socket)}'/>
      <target dir='${e(share.tag)}'/>
    </filesystem>`,
    )
    .join("\n");
  const fwcfg = options.firmwareConfig.map((entry) => `    <entry name='${e(entry.name)}' file='${e(entry.file)}'/>`).join("\n");
  return `<domain type='${options.kvm ? "kvm" : "qemu"}' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>${e(options.name)}</name>
  <memory unit='MiB'>${options.memoryMiB}</memory>
  <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>
  <vcpu>${options.vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>${e(options.kernel)}</kernel>
${options.initrd === null ? "" : `    <initrd>${e(options.initrd)}</initrd>\n`}    <cmdline>${e(options.cmdline ?? DEFAULT_VM_CMDLINE)}</cmdline>
  </os>
  <sysinfo type='fwcfg'>
${fwcfg}
  </sysinfo>
  <features><acpi/></features>
  <cpu mode='${options.kvm ? "host-passthrough" : "maximum"}'/>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='${e(options.disk)}'>${options.diskSeclabel ? "\n        <seclabel model='dac' relabel='no'/>" : ""}
      </source>
      <target dev='vda' bus='virtio'/>
    </disk>
${shares}
    <serial type='file'><source path='${e(options.serialLog)}'/><target port='0'/></serial>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-netdev'/>
    <qemu:arg value='${e(netdev(options))}'/>
    <qemu:arg value='-device'/>
    <qemu:arg value='virtio-net-pci,netdev=heyvmnet,bus=pcie.0,addr=0x10'/>
  </qemu:commandline>
</domain>
`;
}
