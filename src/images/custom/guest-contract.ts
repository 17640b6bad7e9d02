// The guest contract (DESIGN §6, the same one the default VM image follows) for images built from
// a Dockerfile, and the final build step that puts it in. It must not depend on what the image
// happens to contain, so it brings its own tools: a static busybox (this host's, the one the
// default initrd uses) under /usr/libexec/heyvm, with its applets first on the init's PATH.
//
// Boot: kernel → initrd (heyvm's, or the image's own) → /init.sh as PID 1 (systemd-free, the
// product guide's firecracker template contract): mounts, the sandbox's settings (QEMU fw_cfg
// opt/heyvm/*, else a tar archive on a second drive, what Firecracker can give), heyo with the
// host user's uid, the authorized and host keys, /workspace (virtiofs, 9p, else a drive labelled
// heyvm-workspace), the network, sshd with heyvm's own config, `HEYVM_READY` on the console;
// then it execs busybox init (heyvm's inittab bound over /etc/inittab) to reap orphans and to
// turn poweroff, reboot, Ctrl-Alt-Del and the ACPI power button into a clean shutdown.
import { shutdownScript, sshdSettings } from "../vm/guest-files.js";
import { CUSTOM_INIT } from "./formats.js";
import { HEYO_TAKES_HOST_IDS, KERNEL_FILESYSTEMS } from "../guest-shell.js";
import { GUEST_VSOCK_PORTS, NIC_BY_MAC, PORT_RELAYS, VSOCK_LISTENERS, WRITE_WORKSPACE_SETTINGS, workspaceScript } from "../firecracker/vsock-guest.js";

/** Where heyvm's own files live inside a custom VM image. */
export const HEYVM_GUEST_DIR = "/usr/libexec/heyvm";
// The init every custom VM image boots is part of the format (formats.ts, a leaf the backends read).
export { CUSTOM_INIT };
/** Where the final build step finds heyvm's files (removed by the step itself). */
export const STAGING_DIR = "/.heyvm";

const H = HEYVM_GUEST_DIR;

/** The line the script prints over an unpacked image that needs packages (then the engine step runs). */
export const NEEDS_PACKAGES = "HEYVM_NEEDS_PACKAGES";

/** Something the guest contract runs that an image may lack, and the package that brings it with each package manager. */
export interface ContractNeed {
  /** The program's name, in messages and the HEYVM_SETUP_MISSING line. */
  name: string;
  /** What the "adding…" line calls it. */
  label: string;
  /** A shell test (in setup.sh) that succeeds when the image has it. */
  present: string;
  apt: string;
  apk: string;
  dnf: string;
}

const SSH_SERVER: ContractNeed = { name: "sshd", label: "SSH server", present: "have_sshd", apt: "openssh-server", apk: "openssh-server", dnf: "openssh-server" };

/**
 * What heyvm's default firecracker image runs for its vsock channels (images/firecracker/
 * vsock-guest.ts): socat listens, sshfs mounts /workspace (its package brings fuse's tools).
 */
const VSOCK_CHANNEL_NEEDS: ContractNeed[] = [
  { name: "sshfs", label: "sshfs", present: "have sshfs", apt: "sshfs", apk: "sshfs", dnf: "fuse-sshfs" },
  { name: "socat", label: "socat", present: "have socat", apt: "socat", apk: "socat", dnf: "socat" },
];

/** What an image of a VM format must have for the guest contract (the firecracker format: its /workspace channel too). */
export function contractNeeds(workspaceOverVsock: boolean): ContractNeed[] {
  return workspaceOverVsock ? [SSH_SERVER, ...VSOCK_CHANNEL_NEEDS] : [SSH_SERVER];
}

function needsScript(needs: readonly ContractNeed[]): string {
  return `# what this format's guest contract runs (read by setup.sh)\n${needs.map((n) => `${n.present} || want ${n.name} "${n.label}" ${n.apt} ${n.apk} ${n.dnf}\n`).join("")}`;
}

const INIT_SH = `#!${H}/busybox sh
# heyvm guest init for images built from a Dockerfile (PID 1, no systemd). Contract: mounts, the
# sandbox's settings, heyo's keys, /workspace, network, sshd, then HEYVM_READY on the console.
H=${H}
bb=$H/busybox
export PATH=$H/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
log() { echo "heyvm: $*"; }
mount -t proc -o nosuid,nodev,noexec proc /proc
${KERNEL_FILESYSTEMS}mount -o remount,rw / 2>/dev/null
mkdir -p /run/sshd /run/heyvm/config /run/heyvm/ssh/authorized_keys && chmod 755 /run/sshd

# ---- modules an image's own kernel may not have loaded yet (heyvm's initrd loads them itself)
load() { [ -d "/sys/module/$1" ] || /sbin/modprobe -q "$1" 2>/dev/null || modprobe -q "$1" 2>/dev/null; }
for m in qemu_fw_cfg virtio_net virtio_rng virtiofs 9pnet_virtio 9p vmw_vsock_virtio_transport fuse evdev button; do load $m; done

# ---- per-sandbox settings: QEMU fw_cfg items opt/heyvm/*, else a tar archive on a second drive
FWCFG=/sys/firmware/qemu_fw_cfg/by_name/opt/heyvm
if [ -d "$FWCFG" ]; then
  cfg() { [ -r "$FWCFG/$1/raw" ] && cat "$FWCFG/$1/raw"; }
else
  umask 077
  for d in /dev/vdb /dev/vdc /dev/vdd; do [ -b "$d" ] && tar -xf "$d" -C /run/heyvm/config 2>/dev/null && [ -e /run/heyvm/config/env ] && break; done
  umask 022
  cfg() { [ -r "/run/heyvm/config/$1" ] && cat "/run/heyvm/config/$1"; }
fi
HEYVM_UID=1000 HEYVM_GID=1000 HEYVM_HOSTNAME=heyvm HEYVM_GITDIR= HEYVM_PORTS= HEYVM_NET_MAC= HEYVM_NET_ADDR=10.0.2.15/24 HEYVM_NET_GW=10.0.2.2 HEYVM_DNS=10.0.2.3
cfg env > /run/heyvm.env || log "no sandbox settings (fw_cfg opt/heyvm/env, or a config drive)"
while IFS='=' read -r k v; do
  case "$k" in HEYVM_UID|HEYVM_GID) case "$v" in *[!0-9]*|'') ;; *) eval "$k=\\$v";; esac;;
               HEYVM_HOSTNAME) HEYVM_HOSTNAME=$(printf %s "$v" | tr -cd 'A-Za-z0-9.-');;
               HEYVM_GITDIR) case "$v" in /*) HEYVM_GITDIR=$v;; esac;;
               HEYVM_PORTS) HEYVM_PORTS=$(printf %s "$v" | tr -cd '0-9 ');;
               HEYVM_NET_MAC) HEYVM_NET_MAC=$(printf %s "$v" | tr -cd '0-9a-f:');;
               HEYVM_NET_ADDR|HEYVM_NET_GW|HEYVM_DNS) v=$(printf %s "$v" | tr -cd '0-9./'); eval "$k=\\$v";; esac
done < /run/heyvm.env
hostname "$HEYVM_HOSTNAME"; echo "$HEYVM_HOSTNAME" > /etc/hostname
[ -s /etc/hosts ] || printf '127.0.0.1 localhost\\n::1 localhost\\n' > /etc/hosts
grep -q " $HEYVM_HOSTNAME\\$" /etc/hosts || echo "127.0.1.1 $HEYVM_HOSTNAME" >> /etc/hosts
[ -L /etc/resolv.conf ] && [ ! -e /etc/resolv.conf ] && rm -f /etc/resolv.conf
[ -s /etc/resolv.conf ] || echo "nameserver $HEYVM_DNS" > /etc/resolv.conf

# heyo gets the host user's uid/gid so shared files match on both sides
${HEYO_TAKES_HOST_IDS}
# ---- ssh keys (on the tmpfs /run: nothing of a sandbox's keys ever lands on the image's disk)
umask 077
cfg ssh_host_ed25519_key > /run/heyvm/ssh/ssh_host_ed25519_key || log "no host key in the sandbox settings"
umask 022
cfg authorized_keys > /run/heyvm/ssh/authorized_keys/heyo || log "no authorized_keys in the sandbox settings"
chmod 644 /run/heyvm/ssh/authorized_keys/heyo
if cfg gitconfig > /run/heyvm.gitconfig 2>/dev/null && [ -s /run/heyvm.gitconfig ]; then
  cp /run/heyvm.gitconfig /home/heyo/.gitconfig && chown "$HEYVM_UID:$HEYVM_GID" /home/heyo/.gitconfig
fi

# ---- shares: tag 'workspace' -> /workspace, tag 'gitdir' -> $HEYVM_GITDIR (the sandbox's own git store);
# the firecracker format mounts them over vsock instead, once the host connects (below)
${WRITE_WORKSPACE_SETTINGS}
mount_share() { # tag dir
  mkdir -p "$2"
  mount -t virtiofs "$1" "$2" 2>/dev/null && return 0
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none,access=client "$1" "$2" 2>/dev/null && return 0
  return 1
}
if ! mount_share workspace /workspace; then
  dev=$(findfs LABEL=heyvm-workspace 2>/dev/null) && mount "$dev" /workspace || [ -x $H/heyvm-workspace ] || log "no /workspace share or drive"
fi
[ -n "$HEYVM_GITDIR" ] && mount_share gitdir "$HEYVM_GITDIR"

# ---- network (QEMU user-mode net by default; the settings may name another address, or a
# Firecracker TAP NIC by its MAC)
ip link set lo up
if [ -n "$HEYVM_NET_MAC" ] && [ -n "$HEYVM_NET_ADDR" ]; then
${NIC_BY_MAC}elif [ -n "$HEYVM_NET_ADDR" ] && ip link set eth0 up 2>/dev/null; then
  ip addr add "$HEYVM_NET_ADDR" dev eth0
  [ -n "$HEYVM_NET_GW" ] && ip route add default via "$HEYVM_NET_GW"
fi

# ---- power button -> poweroff
acpid -c $H/acpi -l /run/acpid.log -p /run/acpid.pid 2>/dev/null

# ---- the firecracker format (it has the workspace script): SSH, /workspace and exposed ports over
# vsock, answered as heyvm's default firecracker image answers them; on the stand-in (TCP instead
# of vsock) the sshd below already answers the SSH port on its NIC
vsock_channels() {
${VSOCK_LISTENERS}[ "$listen" = VSOCK-LISTEN ] && serve ${GUEST_VSOCK_PORTS.ssh} "$sshd" -i -f $H/sshd_config -E /run/sshd.log
serve ${GUEST_VSOCK_PORTS.workspace} $H/heyvm-workspace
${PORT_RELAYS}sleep 0.1 # the listeners bind
}

# ---- sshd with heyvm's own config (forks after binding :22, so READY below means it listens)
sshd=$(command -v sshd || echo /usr/sbin/sshd)
if "$sshd" -f $H/sshd_config -E /run/sshd.log; then
  [ -x $H/heyvm-workspace ] && vsock_channels
  echo "HEYVM_READY"
else
  echo "HEYVM_FAILED sshd: $(cat /run/sshd.log)"
fi

# ---- busybox init takes over as PID 1 with heyvm's inittab (the image's own one stays untouched)
[ -e /etc/inittab ] || : > /etc/inittab
mount --bind $H/inittab /etc/inittab
exec $bb init
`;

const INITTAB = `# heyvm's inittab for images built from a Dockerfile (bound over /etc/inittab by /init.sh)
::ctrlaltdel:${H}/busybox reboot
::shutdown:${H}/heyvm-shutdown
`;

/** A final reboot on Firecracker (reboot=k ends the VM; it cannot power off), else a power-off. */
const HALT = `grep -q 'reboot=k' /proc/cmdline && exec $bb reboot -f
exec $bb poweroff -f`;

/**
 * The build step's script: runs inside the image as root from the staging folder, either over the
 * unpacked image in a bubblewrap sandbox (HEYVM_IN_TREE set: no network, no engine step) or as an
 * engine build step with the host's network when packages must be installed. It adds an SSH server with the image's package manager if there is none, the
 * user heyo, heyvm's files, and heyvm's default kernel when the image has none (kernel rule:
 * /boot/vmlinuz-lts [+ /boot/initramfs-lts], else Debian's /boot/vmlinuz-* + /boot/initrd.img-*).
 * It prints `HEYVM_KERNEL origin=… kernel=… initrd=…` for heyvm to read, and removes the staging.
 */
const SETUP_SH = `set -eu
S=${STAGING_DIR}
H=${H}
$S/busybox mkdir -p $S/bin
$S/busybox --install -s $S/bin
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$S/bin
fail() { echo "HEYVM_SETUP_FAILED $*"; exit 3; }

# ---- what the contract runs (an SSH server; on the firecracker format sshfs and socat too,
# needs.sh), with the image's own package manager where the image lacks it
have_sshd() { for p in /usr/sbin/sshd /usr/bin/sshd /sbin/sshd /usr/local/sbin/sshd; do [ -x "$p" ] && return 0; done; return 1; }
have() { command -v "$1" >/dev/null 2>&1; }
want() { # name label apt-package apk-package dnf-package
  missing="$missing $1"; labels="\${labels:+$labels, }$2"; apt_pkgs="$apt_pkgs $3"; apk_pkgs="$apk_pkgs $4"; dnf_pkgs="$dnf_pkgs $5"; wanted=$((wanted+1))
}
check_needs() { missing= labels= apt_pkgs= apk_pkgs= dnf_pkgs= wanted=0; . $S/needs.sh; }
check_needs
if [ -n "$missing" ]; then
  # run over the unpacked image (no network): the engine step that can install packages does it
  echo "HEYVM_SETUP_MISSING$missing"
  if [ -n "\${HEYVM_IN_TREE:-}" ]; then echo "${NEEDS_PACKAGES}"; rm -rf $S; exit 4; fi
  if [ "$wanted" -gt 1 ]; then one=them; else one=one; fi
  echo "heyvm: the image has no $labels; adding $one with its package manager"
  if command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $apt_pkgs || fail "apt-get could not install$apt_pkgs"
    rm -rf /var/lib/apt/lists/*
  elif command -v apk >/dev/null 2>&1; then
    apk add --no-cache $apk_pkgs || fail "apk could not add$apk_pkgs"
  elif command -v dnf >/dev/null 2>&1; then
    dnf install -y $dnf_pkgs && dnf clean all || fail "dnf could not install$dnf_pkgs"
  elif command -v microdnf >/dev/null 2>&1; then
    microdnf install -y $dnf_pkgs && microdnf clean all || fail "microdnf could not install$dnf_pkgs"
  elif command -v yum >/dev/null 2>&1; then
    yum install -y $dnf_pkgs && yum clean all || fail "yum could not install$dnf_pkgs"
  else
    fail "no $(echo $missing | sed 's/ /, /g') and no package manager heyvm knows (apt, apk, dnf)"
  fi
  check_needs
  [ -z "$missing" ] || fail "the package manager ran but no $(echo $missing | sed 's/ /, /g') is installed"
  rm -f /etc/ssh/ssh_host_*   # host keys made by the package: never ship them (heyvm hands one over per sandbox)
fi
[ -e /bin/sh ] || ln -s $H/busybox /bin/sh

# ---- the user heyo (its uid/gid follow the host user's at boot)
free_id() { # file
  id=1000; while cut -d: -f3 "$1" | grep -qx "$id"; do id=$((id+1)); done; echo $id
}
shell=/bin/sh; [ -x /bin/bash ] && shell=/bin/bash
touch /etc/passwd /etc/group
if ! grep -q '^heyo:' /etc/group; then echo "heyo:x:$(free_id /etc/group):" >> /etc/group; fi
gid=$(grep '^heyo:' /etc/group | cut -d: -f3)
if ! grep -q '^heyo:' /etc/passwd; then echo "heyo:x:$(free_id /etc/passwd):$gid:heyo:/home/heyo:$shell" >> /etc/passwd; fi
if [ -f /etc/shadow ] && ! grep -q '^heyo:' /etc/shadow; then echo 'heyo:*:19000:0:99999:7:::' >> /etc/shadow; fi
mkdir -p /home/heyo /workspace
[ -d /etc/skel ] && cp -a /etc/skel/. /home/heyo/ 2>/dev/null || true
chown -R "$(grep '^heyo:' /etc/passwd | cut -d: -f3):$gid" /home/heyo
if command -v git >/dev/null 2>&1; then git config --system safe.directory '*' || true; fi

# ---- heyvm's files
mkdir -p $H/bin $H/acpi/PWRF
cp $S/busybox $H/busybox
$H/busybox --install -s $H/bin
cp $S/heyvm-shutdown $S/inittab $S/sshd_config $H/
if [ -e $S/heyvm-workspace ]; then cp $S/heyvm-workspace $H/ && chmod 755 $H/heyvm-workspace; fi
cp $S/acpi-power $H/acpi/PWRF/00000080
chmod 755 $H/busybox $H/heyvm-shutdown $H/acpi/PWRF/00000080
if [ -e ${CUSTOM_INIT} ] || [ -L ${CUSTOM_INIT} ]; then mv ${CUSTOM_INIT} ${CUSTOM_INIT}.image; echo "heyvm: the image's own ${CUSTOM_INIT} is kept as ${CUSTOM_INIT}.image"; fi
cp $S/init.sh ${CUSTOM_INIT}
chmod 755 ${CUSTOM_INIT}
for a in poweroff reboot halt; do command -v $a >/dev/null 2>&1 || ln -sf $H/busybox /usr/local/sbin/$a 2>/dev/null || true; done

# ---- the kernel rule
mkdir -p /boot
newest() { ls -1 "$@" 2>/dev/null | sort -V | tail -n 1; }
if [ -f /boot/vmlinuz-lts ] && [ ! -L /boot/vmlinuz-lts ]; then
  initrd=; [ -f /boot/initramfs-lts ] && initrd=/boot/initramfs-lts
  echo "HEYVM_KERNEL origin=image kernel=/boot/vmlinuz-lts initrd=$initrd"
elif k=$(newest /boot/vmlinuz-*) && [ -n "$k" ] && [ -f "/boot/initrd.img-\${k#/boot/vmlinuz-}" ]; then
  echo "HEYVM_KERNEL origin=image kernel=$k initrd=/boot/initrd.img-\${k#/boot/vmlinuz-}"
elif [ -d $S/kernel ]; then
  cp $S/kernel/vmlinuz /boot/vmlinuz-lts
  cp $S/kernel/initrd /boot/initramfs-lts
  mkdir -p /lib/modules
  cp -a $S/kernel/modules/lib/modules/. /lib/modules/
  echo "HEYVM_KERNEL origin=injected kernel=/boot/vmlinuz-lts initrd=/boot/initramfs-lts"
else
  echo "HEYVM_KERNEL origin=none"
fi
rm -rf $S
`;

/** The files of the staging folder for a format without vsock channels (busybox and the kernel are copied in beside them). */
export const STAGED_FILES: Record<string, string> = {
  "needs.sh": needsScript(contractNeeds(false)),
  "setup.sh": SETUP_SH,
  "init.sh": INIT_SH,
  inittab: INITTAB,
  "heyvm-shutdown": shutdownScript(`${H}/busybox`, HALT),
  "acpi-power": `#!${H}/busybox sh\n# busybox acpid runs this on the ACPI power button (virsh shutdown / QEMU system_powerdown)\nexec ${H}/busybox poweroff\n`,
  sshd_config: `# heyvm's sshd config (sshd -f): independent of the image's own /etc/ssh/sshd_config
Port 22
${sshdSettings("/run/heyvm/ssh/ssh_host_ed25519_key", "/run/heyvm/ssh/authorized_keys/%u")}Subsystem sftp internal-sftp
PidFile /run/heyvm/sshd.pid
`,
};

/**
 * The staging folder's files for a VM format: with workspaceOverVsock (the firecracker format)
 * also the workspace script the vsock channel runs, and sshfs and socat among the needs.
 */
export function stagedFiles(workspaceOverVsock: boolean): Record<string, string> {
  if (!workspaceOverVsock) return STAGED_FILES;
  return { ...STAGED_FILES, "needs.sh": needsScript(contractNeeds(true)), "heyvm-workspace": workspaceScript(`${H}/busybox sh`) };
}

/** The names the step said the image lacked (HEYVM_SETUP_MISSING …), if that is what the line says. */
export function parseMissing(line: string): string[] | undefined {
  const match = /^HEYVM_SETUP_MISSING((?: \S+)+)\s*$/.exec(line.trim());
  return match?.[1]?.trim().split(/\s+/);
}

function neededOf(workspaceOverVsock: boolean, missing?: readonly string[]): ContractNeed[] {
  return contractNeeds(workspaceOverVsock).filter((n) => !missing || missing.length === 0 || missing.includes(n.name));
}

/** "an SSH server, sshfs and socat": what the image lacks (the names given, or all the format needs), in words. */
export function describeNeeds(workspaceOverVsock: boolean, missing?: readonly string[]): string {
  const what = neededOf(workspaceOverVsock, missing).map((n) => (n === SSH_SERVER ? "an SSH server" : n.label));
  return what.length > 1 ? `${what.slice(0, -1).join(", ")} and ${what[what.length - 1] ?? ""}` : (what[0] ?? "");
}

/** How to add what the contract needs to a Dockerfile, per package manager (for the names given, or all of them). */
export function dockerfileAdvice(workspaceOverVsock: boolean, missing?: readonly string[]): string {
  const needs = neededOf(workspaceOverVsock, missing);
  const packages = (key: "apt" | "apk" | "dnf") => needs.map((n) => n[key]).join(" ");
  return `add ${describeNeeds(workspaceOverVsock, missing)} to the Dockerfile (Debian/Ubuntu: RUN apt-get install -y ${packages("apt")}; Alpine: RUN apk add ${packages("apk")}; Fedora: RUN dnf install -y ${packages("dnf")})`;
}

/** The Dockerfile of the final step, over the image the user's Dockerfile made. */
export function contractDockerfile(baseImage: string): string {
  return `FROM ${baseImage}
USER root
WORKDIR /
COPY heyvm/ ${STAGING_DIR}/
RUN ["${STAGING_DIR}/busybox", "sh", "${STAGING_DIR}/setup.sh"]
`;
}

export interface KernelReport {
  origin: "image" | "injected" | "none";
  /** Paths inside the image. */
  kernel?: string;
  initrd?: string;
}

/** Reads the HEYVM_KERNEL line the step printed. */
export function parseKernelReport(line: string): KernelReport | undefined {
  const match = /^HEYVM_KERNEL origin=(image|injected|none)(?: kernel=(\S*))?(?: initrd=(\S*))?\s*$/.exec(line.trim());
  if (!match) return undefined;
  return { origin: match[1] as KernelReport["origin"], kernel: match[2] || undefined, initrd: match[3] || undefined };
}

/** The reason the step gave up (HEYVM_SETUP_FAILED …), if that is what the line says. */
export function parseSetupFailure(line: string): string | undefined {
  return /^HEYVM_SETUP_FAILED (.*)$/.exec(line.trim())?.[1];
}
