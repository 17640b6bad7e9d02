#!/usr/bin/env bash
# Installs everything heyvm and its tests need on a fresh Debian/Ubuntu machine: the system
# tools heyvm drives (git, bubblewrap, QEMU, libvirt, image-building tools), the npm
# dependencies, the build, and `heyvm` on PATH. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  git bubblewrap util-linux            # worktrees and the bubblewrap backend (nsenter, unshare)
  passt                                # pasta: bubblewrap sandboxes' own outbound-only network
  qemu-system-x86 qemu-utils           # VM backends: QEMU and qemu-img
  libvirt-daemon-system libvirt-clients acl # the libvirt backend (libvirtd, virsh; setfacl)
  openssh-client                       # ssh and ssh-keygen for VM sandboxes
  openssh-sftp-server                  # the firecracker backend serves /workspace with it (confined by bwrap)
  busybox-static cpio e2fsprogs xz-utils # building the default VM image (initramfs, ext4 root)
  mmdebstrap                           # the default VM image's root filesystem
  docker.io fakeroot                   # images build --file: docker build/export; ext4 without root
  tmux                                 # interactive-shell tests
  libseccomp-dev                       # heyvm-seccomp: the filter that refuses setuid/setgid files and device nodes; heyvm-nameguard (linked statically with its libseccomp.a)
  iproute2 iptables                    # the network tests' own namespaces (ip netns); the firecracker TAP's NAT
  build-essential python3              # node-gyp builds of better-sqlite3 and node-pty (cloud server)
)

echo "==> apt packages: ${PACKAGES[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${PACKAGES[@]}"

echo "==> npm dependencies and build"
npm ci --no-audit --no-fund
npm run build

echo "==> heyvm on PATH"
$SUDO npm link --no-audit --no-fund >/dev/null
command -v heyvm && heyvm --version

echo "==> services for the libvirt backend and the Docker engine"
bash scripts/start-services.sh || echo "warning: libvirtd or dockerd could not be started; the backend or images build will say so when used" >&2
