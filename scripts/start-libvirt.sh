#!/usr/bin/env bash
# Starts virtlogd and libvirtd when they are installed and not running, for the tests that let
# libvirt's qemu driver validate domain XML. Used by .ci/run and by the test setup.
#
# /dev/kvm: udev normally makes it group kvm, mode 660. On machines without that rule it is
# root-only; libvirt then probes QEMU with KVM (as root) but finds KVM unusable for the qemu user,
# throws the capability cache away and re-probes on every call: about a minute per `virsh define`.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

if ! command -v libvirtd >/dev/null || ! command -v virsh >/dev/null; then
  echo "start-libvirt: libvirtd or virsh is not installed (Debian: libvirt-daemon-system libvirt-clients qemu-system-x86)" >&2
  exit 3
fi
if [ "$(id -u)" = 0 ] && [ -e /dev/kvm ] && getent group kvm >/dev/null; then
  chgrp kvm /dev/kvm && chmod 660 /dev/kvm || echo "start-libvirt: could not give group kvm access to /dev/kvm" >&2
fi
# KubeVirt's hugepages VMs (the n1 instancetypes: 1Gi pages): libvirt's qemu driver starts them
# only with a hugetlbfs mount of that page size, which it looks for when it starts. No pages need
# to be reserved: here QEMU never runs far enough to allocate guest memory.
mounted=0
if [ "$(id -u)" = 0 ]; then
  for page in 2M:2048 1G:1048576; do
    size=${page%%:*} kb=${page##*:}
    dir=/dev/hugepages$size
    [ -d "/sys/kernel/mm/hugepages/hugepages-${kb}kB" ] || continue
    grep -q " $dir hugetlbfs " /proc/mounts && continue
    if mkdir -p "$dir" && mount -t hugetlbfs -o "pagesize=$size" none "$dir"; then
      mounted=1
    else
      echo "start-libvirt: could not mount hugetlbfs on $dir: hugepages VMs cannot be started here" >&2
    fi
  done
fi
pgrep -x virtlogd >/dev/null || virtlogd -d
if [ "$mounted" = 1 ] && pgrep -x libvirtd >/dev/null; then
  # A running libvirtd has not seen the new mounts.
  pkill -x libvirtd
  for _ in $(seq 1 50); do pgrep -x libvirtd >/dev/null || break; sleep 0.1; done
fi
pgrep -x libvirtd >/dev/null || libvirtd -d
for _ in $(seq 1 100); do
  if virsh -c qemu:///system version >/dev/null 2>&1; then exit 0; fi
  sleep 0.2
done
echo "start-libvirt: libvirtd started but qemu:///system does not answer" >&2
exit 1
