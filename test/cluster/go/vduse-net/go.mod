// A VDUSE virtio-net device for the datapath tests (test/datapath/): created through the kernel's
// VDUSE uAPI (linux/vduse.h), it answers ARP and ICMP echo for one address and reports what it saw.
// Standard library only.
module kubevirt-vduse/test/cluster/go/vduse-net

go 1.24.0
