#!/bin/busybox sh
# L1's init (test/datapath/images.ts): the modules, this machine's root over virtio-9p under a tmpfs
# (overlayfs), the run directory read-write at its own path, then the run directory's l1.sh in a
# chroot there. Any failure powers L1 off at once; the test reads why from the console.
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "L1 init: $*"; poweroff -f; }
for module in $(cat /modules/order); do insmod "/modules/$module.ko" || fail "insmod $module"; done
run=$(sed -n 's/.*l1.run=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -n "$run" ] || fail "no l1.run= on the kernel command line"
nine="trans=virtio,version=9p2000.L,msize=512000"
mount -t 9p -o "$nine,ro" host /host || fail "mounting the host's root over 9p"
mount -t tmpfs -o size=1g tmpfs /rw && mkdir /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "overlayfs"
mount -t 9p -o "$nine" run "/newroot$run" || fail "mounting the run directory over 9p"
echo "L1: up in $(cut -d' ' -f1 /proc/uptime) s"
for dir in proc sys dev; do mount --move "/$dir" "/newroot/$dir"; done
mount -t tmpfs tmpfs /newroot/run
mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup
exec chroot /newroot /bin/sh -c "cd '$run' && exec /bin/sh ./l1.sh"
