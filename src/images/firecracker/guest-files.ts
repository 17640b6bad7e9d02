// The guest side of the firecracker image format: the initrd's /init (Debian's kernel needs its
// virtio-mmio, virtio-blk and ext4 modules loaded before the root filesystem can be mounted) and
// the systemd-free /init.sh that runs as PID 1. Firecracker has no fw_cfg and no shared
// filesystem, so the per-sandbox settings come on a second, read-only drive (a tar archive on
// /dev/vdb) and /workspace comes over vsock: the host connects to GUEST_VSOCK_PORTS.workspace
// and serves an SFTP session (a confined sftp-server), which the guest mounts with sshfs.
import { GUEST_VSOCK_PORTS, NIC_BY_MAC, PORT_RELAYS, VSOCK_LISTENERS, WRITE_WORKSPACE_SETTINGS, workspaceScript } from "./vsock-guest.js";
import { HEYO_TAKES_HOST_IDS, KERNEL_FILESYSTEMS } from "../guest-shell.js";
import { CUSTOMIZE_SCRIPT, customizeScript, sshdSettings } from "../vm/guest-files.js";
import { initrdInit } from "../vm/kernel-kit.js";

/** Modules the initrd loads (with their dependencies), in this order. */
export const FIRECRACKER_INITRD_MODULES = [
  "virtio_mmio", "virtio_blk", "crc32c_generic", "ext4", "virtio_net", "failover", "net_failover",
  "vmw_vsock_virtio_transport", "fuse",
];

/** The initrd's /init (kernel-kit.ts), switching to /init.sh unless init= says otherwise. */
export const FIRECRACKER_INITRD_INIT = initrdInit("/init.sh");

/** Path inside the image → content. Scripts are made executable by the customize step. */
export const FIRECRACKER_GUEST_FILES: Record<string, string> = {
  "init.sh": `#!/bin/sh
# heyvm guest init for the firecracker format (PID 1, no systemd). Contract: mount the basics,
# read the sandbox's settings from the config drive (/dev/vdb), install the authorized key and
# the pinned host key, answer SSH and the /workspace channel on vsock, print HEYVM_READY.
# Ctrl-Alt-Del (Firecracker's SendCtrlAltDel), poweroff, reboot and halt all end in a clean
# unmount and a reboot, which ends the Firecracker process (reboot=k).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
bb=/bin/busybox
log() { echo "heyvm: $*"; }
mount -t proc -o nosuid,nodev,noexec proc /proc
echo 0 > /proc/sys/kernel/ctrl-alt-del # Ctrl-Alt-Del is SIGINT to this init (the trap below), not an instant reset
${KERNEL_FILESYSTEMS}mkdir -p /run/sshd /run/heyvm/config /run/heyvm/host && chmod 755 /run/sshd
$bb ip link set lo up

# ---- per-sandbox settings: a tar archive on the second drive
umask 077
if ! tar -xf /dev/vdb -C /run/heyvm/config 2>/run/heyvm/config.err; then log "no config drive on /dev/vdb: $(cat /run/heyvm/config.err)"; fi
umask 022
HEYVM_UID=1000 HEYVM_GID=1000 HEYVM_HOSTNAME=heyvm HEYVM_GITDIR= HEYVM_PORTS= HEYVM_NET_MAC= HEYVM_NET_ADDR= HEYVM_NET_GW= HEYVM_DNS=
[ -r /run/heyvm/config/env ] && while IFS='=' read -r k v; do
  case "$k" in HEYVM_UID|HEYVM_GID) case "$v" in *[!0-9]*|'') ;; *) eval "$k=\\$v";; esac;;
               HEYVM_HOSTNAME) HEYVM_HOSTNAME=$(printf %s "$v" | tr -cd 'A-Za-z0-9.-');;
               HEYVM_GITDIR) case "$v" in /*) HEYVM_GITDIR=$v;; esac;;
               HEYVM_PORTS) HEYVM_PORTS=$(printf %s "$v" | tr -cd '0-9 ');;
               HEYVM_NET_MAC) HEYVM_NET_MAC=$(printf %s "$v" | tr -cd '0-9a-f:');;
               HEYVM_NET_ADDR|HEYVM_NET_GW|HEYVM_DNS) eval "$k=$(printf %s "$v" | tr -cd '0-9./')";; esac
done < /run/heyvm/config/env
$bb hostname "$HEYVM_HOSTNAME"; echo "$HEYVM_HOSTNAME" > /etc/hostname
grep -q " $HEYVM_HOSTNAME\\$" /etc/hosts || echo "127.0.1.1 $HEYVM_HOSTNAME" >> /etc/hosts

# heyo gets the host user's uid/gid so files in /workspace match on both sides
${HEYO_TAKES_HOST_IDS}
install -m 600 /run/heyvm/config/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key || log "no host key on the config drive"
install -m 644 /run/heyvm/config/authorized_keys /etc/ssh/authorized_keys/heyo || log "no authorized_keys on the config drive"
if [ -s /run/heyvm/config/gitconfig ]; then
  install -m 644 -o "$HEYVM_UID" -g "$HEYVM_GID" /run/heyvm/config/gitconfig /home/heyo/.gitconfig
fi
${WRITE_WORKSPACE_SETTINGS}
# ---- outbound network: the TAP NIC (found by its MAC), addressed as the host planned it
if [ -n "$HEYVM_NET_MAC" ] && [ -n "$HEYVM_NET_ADDR" ]; then
${NIC_BY_MAC}fi

# ---- vsock listeners. On the heyvm stand-in (QEMU, no vsock device) the same ports are TCP
# ports on the stand-in's isolated user-mode NIC: it says so with heyvm.vsock=tcp on the cmdline.
${VSOCK_LISTENERS}serve ${GUEST_VSOCK_PORTS.ssh} /usr/sbin/sshd -i -E /run/sshd.log
serve ${GUEST_VSOCK_PORTS.workspace} /usr/sbin/heyvm-workspace
${PORT_RELAYS}
shutdown_now() {
  trap '' INT TERM USR1 USR2
  echo "heyvm: shutting down"
  kill -TERM -1 2>/dev/null; sleep 0.3; kill -KILL -1 2>/dev/null
  sync
  grep -E ' fuse[. ]' /proc/mounts | cut -d' ' -f2 | sort -r | while read -r m; do $bb umount -l "$m"; done
  $bb mount -o remount,ro / 2>/dev/null
  echo "HEYVM_POWEROFF"
  exec $bb reboot -f
}
trap shutdown_now INT TERM USR1 USR2
sleep 0.1 # the listeners bind
echo "HEYVM_READY"
while :; do sleep 1 & wait $!; done
`,
  "usr/sbin/heyvm-workspace": workspaceScript("/bin/sh"),
  "etc/ssh/sshd_config.d/heyvm.conf": sshdSettings("/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/authorized_keys/%u"),
  [CUSTOMIZE_SCRIPT.slice(1)]: customizeScript({ initLink: false, resolvConf: ": > /etc/resolv.conf", executables: ["/init.sh", "/usr/sbin/heyvm-workspace"] }),
};


/** Debian packages of the default firecracker image. */
export const FIRECRACKER_PACKAGES = ["git", "openssh-server", "busybox-static", "ca-certificates", "mount", "sshfs", "socat"] as const;
