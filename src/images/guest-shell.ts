// Pieces of shell that every guest init heyvm writes runs the same way (the default VM image's,
// the default firecracker image's and the contract added to images built from a Dockerfile), so
// that a fix to one reaches all three guests.

/** The kernel's filesystems and the tmpfs mounts (/dev/pts, /dev/shm, /run, /tmp) an init makes first, after /proc. */
export const KERNEL_FILESYSTEMS = `mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
[ -e /dev/null ] || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=000 devpts /dev/pts
mount -t tmpfs -o nosuid,nodev tmpfs /dev/shm
mount -t tmpfs -o nosuid,nodev,mode=755 tmpfs /run
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /tmp
`;

/** heyo takes the host user's uid and gid ($HEYVM_UID, $HEYVM_GID), so shared files match on both sides. */
export const HEYO_TAKES_HOST_IDS = `cur_uid=$(id -u heyo); cur_gid=$(id -g heyo)
if [ "$cur_gid" != "$HEYVM_GID" ]; then
  sed -i "s/^heyo:x:$cur_gid:/heyo:x:$HEYVM_GID:/" /etc/group
  sed -i "s/^\\(heyo:x:[0-9]*\\):$cur_gid:/\\1:$HEYVM_GID:/" /etc/passwd
fi
[ "$cur_uid" != "$HEYVM_UID" ] && sed -i "s/^heyo:x:$cur_uid:/heyo:x:$HEYVM_UID:/" /etc/passwd
[ "$cur_uid:$cur_gid" != "$HEYVM_UID:$HEYVM_GID" ] && chown -R "$HEYVM_UID:$HEYVM_GID" /home/heyo
`;
