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
pgrep -x virtlogd >/dev/null || virtlogd -d
pgrep -x libvirtd >/dev/null || libvirtd -d
for _ in $(seq 1 100); do
  if virsh -c qemu:///system version >/dev/null 2>&1; then exit 0; fi
  sleep 0.2
done
echo "start-libvirt: libvirtd started but qemu:///system does not answer" >&2
exit 1
