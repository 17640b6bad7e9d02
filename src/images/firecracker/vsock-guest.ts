// The guest's side of the vsock channels of the firecracker format, written once for both guests
// that have them: heyvm's default firecracker image (images/firecracker/guest-files.ts) and the
// contract added to images built from a Dockerfile (images/custom/guest-contract.ts). The guest
// listens (socat), the host connects: sshd on GUEST_VSOCK_PORTS.ssh, and on
// GUEST_VSOCK_PORTS.workspace an SFTP session from the host's confined sftp-server, which the
// guest mounts with sshfs as /workspace (and the git folder). This module imports nothing that
// leads back to the image formats, so both guests can use it.

/**
 * What image.json's details.boot.workspace says of an image whose guest mounts /workspace from
 * the host over vsock (sshfs on GUEST_VSOCK_PORTS.workspace). An image without it has no such
 * channel on Firecracker.
 */
export const WORKSPACE_OVER_VSOCK = "sshfs-over-vsock";

/**
 * Guest vsock ports of the guest contract: the guest listens on them, the host connects
 * (host-initiated connections only, so nothing on the host has to listen while the owner hands
 * over to its native monitor).
 */
export const GUEST_VSOCK_PORTS = {
  /** sshd, one `sshd -i` per connection. */
  ssh: 22,
  /** An SFTP session the guest mounts (sshfs, passive) as the host's view of /workspace. */
  workspace: 10001,
} as const;

/** Where the workspace script reads the git folder's path from (written by WRITE_WORKSPACE_SETTINGS). */
const WORKSPACE_SETTINGS = "/run/heyvm/mounts.env";

/** An init's line that keeps $HEYVM_GITDIR for the workspace script (which runs once per connection). */
export const WRITE_WORKSPACE_SETTINGS = `printf 'HEYVM_GITDIR=%s\\n' "$HEYVM_GITDIR" > ${WORKSPACE_SETTINGS}\n`;

/**
 * Sets $listen and defines `serve <port> <program...>` (one program per connection, as socat's
 * EXEC). On heyvm's stand-in (QEMU, no vsock device) the same ports are TCP ports on the
 * stand-in's isolated user-mode NIC, the guest's first one (eth0): it says so with
 * heyvm.vsock=tcp on the command line. Needs $bb (a busybox) and /run/heyvm.
 */
export const VSOCK_LISTENERS = `listen=VSOCK-LISTEN
if grep -q 'heyvm.vsock=tcp' /proc/cmdline; then
  listen=TCP-LISTEN # the stand-in's carrier NIC is the first one, eth0
  $bb ip link set eth0 up && { $bb ip addr show dev eth0 | grep -q ' 10\\.0\\.2\\.15/' || $bb ip addr add 10.0.2.15/24 dev eth0; }
fi
serve() { # port program...
  port=$1; shift
  socat -lf /run/heyvm/socat-$port.log $listen:$port,reuseaddr,fork EXEC:"$*",nofork &
}
`;

/** Exposed ports ($HEYVM_PORTS): each vsock port relayed to the same TCP port on the guest's loopback (the stand-in reaches them over its NIC). */
export const PORT_RELAYS = `if [ "$listen" = VSOCK-LISTEN ]; then
  for p in $HEYVM_PORTS; do socat -lf /run/heyvm/socat-$p.log VSOCK-LISTEN:$p,reuseaddr,fork TCP:127.0.0.1:$p & done
fi
`;

/**
 * The TAP NIC (found by $HEYVM_NET_MAC), addressed as the host planned it ($HEYVM_NET_ADDR,
 * _GW, $HEYVM_DNS): no DHCP. Needs $bb and log().
 */
export const NIC_BY_MAC = `nic=
for n in /sys/class/net/*; do [ "$(cat "$n/address" 2>/dev/null)" = "$HEYVM_NET_MAC" ] && nic=\${n##*/}; done
if [ -n "$nic" ]; then
  $bb ip link set "$nic" up && $bb ip addr add "$HEYVM_NET_ADDR" dev "$nic"
  [ -n "$HEYVM_NET_GW" ] && $bb ip route add default via "$HEYVM_NET_GW" dev "$nic"
  [ -n "$HEYVM_DNS" ] && echo "nameserver $HEYVM_DNS" > /etc/resolv.conf
  log "network: $nic $HEYVM_NET_ADDR via $HEYVM_NET_GW"
else
  log "no network interface with MAC $HEYVM_NET_MAC"
fi
`;

/**
 * The program `serve` runs on the workspace port, once per connection, with the connection as
 * stdin and stdout: an SFTP session with the host's sftp-server (confined to the worktree and the
 * git folder, whose config and hooks it serves read-only). Mounts it with sshfs, then binds
 * /workspace and the git folder out of it. shell is the script's interpreter.
 */
export function workspaceScript(shell: string): string {
  return `#!${shell}
# Runs once per connection on the /workspace vsock port, with the connection as stdin and
# stdout: an SFTP session with the host's sftp-server (confined to the worktree and the git
# folder). Mounts it with sshfs, then binds /workspace and the git folder out of it.
. ${WORKSPACE_SETTINGS}
host=/run/heyvm/host
mkdir -p "$host" /workspace
for m in "$HEYVM_GITDIR" /workspace "$host"; do [ -n "$m" ] && mountpoint -q "$m" && umount -l "$m"; done
exec 3<&0 4>&1
# attributes and names are cached for a second at most, so changes made on the host show soon
sshfs -f -o passive,allow_other,dir_cache=yes,dcache_timeout=1,attr_timeout=1,entry_timeout=1 :/ "$host" <&3 >&4 3<&- 4>&- 2>>/run/heyvm/sshfs.log &
exec 3<&- 4>&- </dev/null >/dev/null
i=0; while ! mountpoint -q "$host" && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
mount --bind "$host/workspace" /workspace
if [ -n "$HEYVM_GITDIR" ] && [ -d "$host$HEYVM_GITDIR" ]; then mkdir -p "$HEYVM_GITDIR" && mount --bind "$host$HEYVM_GITDIR" "$HEYVM_GITDIR"; fi
`;
}

/** Kernel modules the channels need (built in, or loadable from the image's /lib/modules). */
export const VSOCK_GUEST_MODULES = ["vmw_vsock_virtio_transport", "fuse"] as const;
