#!/usr/bin/env bash
# Starts what the libvirt backend needs on a machine without systemd (CI, containers): virtlogd
# and libvirtd, and gives /dev/kvm the group access udev normally sets (without it libvirt
# re-probes QEMU for ~90 s on every domain start). Safe to run again.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if [ -e /dev/kvm ]; then
  $SUDO chgrp kvm /dev/kvm 2>/dev/null || true
  $SUDO chmod 0660 /dev/kvm || true
fi
if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
  $SUDO systemctl start virtlogd libvirtd
else
  pgrep -x virtlogd >/dev/null || $SUDO virtlogd -d
  pgrep -x libvirtd >/dev/null || $SUDO libvirtd -d
fi
for _ in $(seq 1 60); do
  if $SUDO virsh -c qemu:///system uri >/dev/null 2>&1; then echo "libvirtd is up"; exit 0; fi
  sleep 1
done
echo "libvirtd did not come up" >&2
exit 1
