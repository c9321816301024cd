#!/bin/busybox sh
# L2's init: it stands in for the VMI's disk (test/datapath/images.ts). It reports on the console,
# one `DATAPATH <key> <value>` line each, what the datapath suite checks: the NIC's driver and MAC,
# its rings (ethtool -g), the coalescing step the sidecar wrote into cloud-init, run as written,
# and a ping to the VDUSE device's address. /scenario.sh, appended by the test, sets GUEST_IP,
# PEER_IP, PINGS, NIC_MAC (the VDUSE NIC's: the pod network's NIC is there too), and RULE_MAC and
# RULE_PROGRAM: the sidecar's udev rule for the NIC (empty when the VM asks for no coalescing).
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
. /scenario.sh
say() { echo "DATAPATH $*"; }
each() { while IFS= read -r line; do say "$1 $line"; done; }
say boot "$(cut -d' ' -f1 /proc/uptime)"
for module in $(cat /modules/order); do insmod "/modules/$module.ko"; done
nic=
for path in /sys/class/net/*; do
  [ "$(cat "$path/address")" = "$NIC_MAC" ] && nic=$(basename "$path")
done
if [ -z "$nic" ]; then say error "no interface with MAC $NIC_MAC"; say done; poweroff -f; fi
say driver "$(basename "$(readlink "/sys/class/net/$nic/device/driver")")"
say nic "$nic"
say mac "$(cat "/sys/class/net/$nic/address")"
ethtool -g "$nic" 2>&1 | each ring
# udev, stood in: the rule matches the NIC on ATTR{address} and runs its RUN+= program with %k, the
# kernel's name for it, as udev does on the "add" event that the runcmd's trigger replays.
if [ -n "$RULE_PROGRAM" ] && [ "$(cat "/sys/class/net/$nic/address")" = "$RULE_MAC" ]; then
  program=$(echo "$RULE_PROGRAM" | sed "s/%k/$nic/g")
  say coalesce-program "$program"
  eval "$program" > /tmp/coalesce 2>&1
  say coalesce-exit "$?"
  each coalesce-output < /tmp/coalesce
  ethtool -c "$nic" 2>&1 | each coalesce-after
fi
# What the kernel does with adaptive-rx alone on a device without NOTF_COAL (docs/requirements.md).
ethtool -C "$nic" adaptive-rx on > /tmp/adaptive 2>&1
say adaptive-exit "$?"
each adaptive-output < /tmp/adaptive
ethtool -c "$nic" 2>&1 | grep '^Adaptive' | each adaptive-after
ip addr add "$GUEST_IP/24" dev "$nic"
ip link set "$nic" up
sleep 2
say ping-start "$(cut -d' ' -f1 /proc/uptime)"
ping -c "$PINGS" -W 3 "$PEER_IP" 2>&1 | each ping
say done "$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
