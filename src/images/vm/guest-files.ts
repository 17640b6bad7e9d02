// The files heyvm puts into the default VM image: the guest side of the contract in ARCHITECTURE.md §4.
// busybox init is PID 1; heyvm-init mounts everything, reads the per-sandbox config from QEMU
// fw_cfg (opt/heyvm/*), gives heyo the host user's uid/gid, mounts /workspace (virtiofs, else 9p),
// brings up networking, starts sshd and prints HEYVM_READY on the serial console.
import { HEYO_TAKES_HOST_IDS, KERNEL_FILESYSTEMS } from "../guest-shell.js";

/**
 * The script busybox init runs on poweroff/reboot before it kills everything and calls
 * reboot(2): shared by the default image and images built from a Dockerfile (finalLine ends it).
 */
export function shutdownScript(busybox: string, finalLine: string): string {
  return `#!/bin/sh
# run by busybox init on poweroff/reboot before it kills everything and calls reboot(2)
echo "heyvm: shutting down"
bb=${busybox}
mount() { $bb mount "$@"; }
umount() { $bb umount "$@"; }
kill -TERM -1 2>/dev/null; sleep 0.3; kill -KILL -1 2>/dev/null
sync
grep -E ' (virtiofs|9p) ' /proc/mounts | cut -d' ' -f2 | sort -r | while read -r m; do umount "$m"; done
mount -o remount,ro / 2>/dev/null
echo "HEYVM_POWEROFF"
${finalLine}
`;
}

/** sshd settings of the guest contract: keys only, heyvm's host key, the key heyvm hands over. */
export function sshdSettings(hostKey: string, authorizedKeysFile: string): string {
  return `HostKey ${hostKey}
AuthorizedKeysFile ${authorizedKeysFile}
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
UseDNS no
PrintMotd no
PrintLastLog no
`;
}

/** The script in heyvm's default images that runs inside the new root filesystem (chroot) at build time. */
export const CUSTOMIZE_SCRIPT = "/tmp/heyvm-customize.sh";

/**
 * That script, for the libvirt and firecracker default images alike: user heyo, no shipped host
 * keys, busybox's power commands, git's system settings, hostname and hosts; what differs is
 * whether busybox is /sbin/init, how resolv.conf starts, and which of the image's files run.
 */
export function customizeScript(options: { initLink: boolean; resolvConf: string; executables: string[] }): string {
  return `#!/bin/sh
# runs inside the rootfs (chroot) at image build time
set -e
useradd -m -u 1000 -U -s /bin/bash heyo
usermod -p '*' heyo                       # no password, but NOT locked ('!' makes sshd refuse with UsePAM no)
rm -f /etc/ssh/ssh_host_*                 # host keys made by openssh-server postinst: never ship them
${options.initLink ? "ln -sf /bin/busybox /sbin/init\n" : ""}for a in poweroff reboot halt; do ln -sf /bin/busybox /sbin/$a; done
mkdir -p /workspace /etc/ssh/authorized_keys
git config --system safe.directory '*'
git config --system init.defaultBranch main
echo heyvm > /etc/hostname
printf '127.0.0.1 localhost\\n::1 localhost\\n' > /etc/hosts
${options.resolvConf}
chmod 755 ${options.executables.join(" ")}
rm -rf /var/cache/apt/* /var/lib/apt/lists/* /var/log/*.log /usr/share/doc/* ${CUSTOMIZE_SCRIPT}
`;
}

/** Path inside the image → content. Scripts are made executable by the customize step. */
export const GUEST_FILES: Record<string, string> = {
  "usr/sbin/heyvm-init": `#!/bin/sh
# heyvm guest init (busybox init ::sysinit). Contract: mounts, /workspace share, net, ssh keys, sshd,
# then prints HEYVM_READY on the console (ttyS0).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
bb=/bin/busybox
mount() { $bb mount "$@"; }
umount() { $bb umount "$@"; }
hostname() { $bb hostname "$@"; }
log() { echo "heyvm: $*"; }
mount -t proc -o nosuid,nodev,noexec proc /proc
${KERNEL_FILESYSTEMS}mkdir -p /run/sshd && chmod 755 /run/sshd

# ---- per-sandbox config: QEMU fw_cfg items opt/heyvm/{env,authorized_keys,ssh_host_ed25519_key}
CFG=/sys/firmware/qemu_fw_cfg/by_name/opt/heyvm
cfg() { [ -r "$CFG/$1/raw" ] && cat "$CFG/$1/raw"; }
HEYVM_UID=1000 HEYVM_GID=1000 HEYVM_HOSTNAME=heyvm HEYVM_GITDIR=
cfg env > /run/heyvm.env || log "no fw_cfg config (opt/heyvm/env)"
while IFS='=' read -r k v; do
  case "$k" in HEYVM_UID|HEYVM_GID) case "$v" in *[!0-9]*|'') ;; *) eval "$k=\\$v";; esac;;
               HEYVM_HOSTNAME) HEYVM_HOSTNAME=$(printf %s "$v" | tr -cd 'A-Za-z0-9.-');;
               HEYVM_GITDIR) case "$v" in /*) HEYVM_GITDIR=$v;; esac;; esac
done < /run/heyvm.env
hostname "$HEYVM_HOSTNAME"; echo "$HEYVM_HOSTNAME" > /etc/hostname
grep -q " $HEYVM_HOSTNAME\\$" /etc/hosts || echo "127.0.1.1 $HEYVM_HOSTNAME" >> /etc/hosts

# heyo gets the host user's uid/gid so shared files match on both sides
${HEYO_TAKES_HOST_IDS}
# ---- ssh keys
umask 077
cfg ssh_host_ed25519_key > /etc/ssh/ssh_host_ed25519_key || log "no host key in fw_cfg"
umask 022
cfg authorized_keys > /etc/ssh/authorized_keys/heyo || log "no authorized_keys in fw_cfg"
chmod 644 /etc/ssh/authorized_keys/heyo
# the repository's git identity, so commits made inside carry the right author
if cfg gitconfig > /run/heyvm.gitconfig 2>/dev/null && [ -s /run/heyvm.gitconfig ]; then
  cp /run/heyvm.gitconfig /home/heyo/.gitconfig && chown "$HEYVM_UID:$HEYVM_GID" /home/heyo/.gitconfig
fi

# ---- shares: tag 'workspace' -> /workspace, tag 'gitdir' -> $HEYVM_GITDIR (the sandbox's own git store;
# what must stay read-only, the host's objects and /workspace/.git, is so on the host's side)
mount_share() { # tag dir
  mkdir -p "$2"
  mount -t virtiofs "$1" "$2" 2>/dev/null && return 0
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none,access=client "$1" "$2" 2>/dev/null && return 0
  log "could not mount share $1 on $2"; return 1
}
mount_share workspace /workspace
[ -n "$HEYVM_GITDIR" ] && mount_share gitdir "$HEYVM_GITDIR"

# ---- network (QEMU user-mode net: slirp-internal addresses)
$bb ip link set lo up
$bb ip link set eth0 up && $bb ip addr add 10.0.2.15/24 dev eth0 && $bb ip route add default via 10.0.2.2

# ---- power button -> poweroff
$bb acpid -c /etc/acpi -l /run/acpid.log -p /run/acpid.pid

# ---- sshd (forks after binding :22, so READY below means the port is listening)
if /usr/sbin/sshd -E /run/sshd.log; then echo "HEYVM_READY"; else echo "HEYVM_FAILED sshd: $(cat /run/sshd.log)"; fi
`,
  "usr/sbin/heyvm-shutdown": shutdownScript("/bin/busybox", "exec $bb poweroff -f   # we already killed, synced and remounted ro: skip busybox init's extra sleeps"),
  "etc/inittab": `# busybox init is PID 1 (reaps orphans, turns SIGUSR2/SIGTERM from \`poweroff\`/\`reboot\` into shutdown)
::sysinit:/sbin/heyvm-init
::ctrlaltdel:/sbin/reboot
::shutdown:/sbin/heyvm-shutdown
`,
  "etc/acpi/PWRF/00000080": `#!/bin/sh
# busybox acpid runs this on the ACPI power button (virsh shutdown / QEMU system_powerdown)
exec /sbin/poweroff
`,
  "etc/ssh/sshd_config.d/heyvm.conf": sshdSettings("/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/authorized_keys/%u"),
  [CUSTOMIZE_SCRIPT.slice(1)]: customizeScript({ initLink: true, resolvConf: "echo 'nameserver 10.0.2.3' > /etc/resolv.conf", executables: ["/sbin/heyvm-init", "/sbin/heyvm-shutdown", "/etc/acpi/PWRF/00000080"] }),
};

