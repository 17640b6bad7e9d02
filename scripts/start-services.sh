#!/usr/bin/env bash
# Starts what the libvirt backend needs on a machine without systemd (CI, containers): virtlogd
# and libvirtd, and gives /dev/kvm the group access udev normally sets (without it libvirt
# re-probes QEMU for ~90 s on every domain start). Then a Docker engine for `heyvm images build`,
# only where none answers yet (Docker Desktop, Docker CE or Podman's socket via DOCKER_HOST are
# kept as they are). Safe to run again.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# dockerd without its docker0 bridge, NAT or iptables rules: heyvm builds with --network host and
# never needs a private-range network on the host.
start_docker() {
  if docker info >/dev/null 2>&1; then echo "a Docker engine answers already"; return 0; fi
  if ! command -v dockerd >/dev/null 2>&1; then echo "warning: no dockerd (apt-get install docker.io); heyvm images build --file will say so" >&2; return 0; fi
  $SUDO sh -c 'nohup dockerd --bridge=none --iptables=false --ip-masq=false >/var/log/heyvm-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do
    if $SUDO docker info >/dev/null 2>&1; then echo "dockerd is up"; return 0; fi
    sleep 1
  done
  echo "dockerd did not come up (see /var/log/heyvm-dockerd.log)" >&2
  return 1
}

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
libvirt_up=0
for _ in $(seq 1 60); do
  if $SUDO virsh -c qemu:///system uri >/dev/null 2>&1; then echo "libvirtd is up"; libvirt_up=1; break; fi
  sleep 1
done
[ "$libvirt_up" = 1 ] || echo "libvirtd did not come up" >&2
docker_up=0
start_docker && docker_up=1
[ "$libvirt_up" = 1 ] && [ "$docker_up" = 1 ]
