// The locked memory a domain with vdpa interfaces needs, and what the VM's addedOverhead must bring
// so that KubeVirt's limit covers it, in one place for the webhook (which sizes the overhead) and
// the tests that read libvirt's own figure and KubeVirt's own limit.
//
// - vDPA maps all guest memory for DMA per device: libvirt's qemu driver sets QEMU's locked-memory
//   limit to N x the domain's total memory + 1 GiB for N vdpa interfaces
//   (qemuDomainGetMemLockLimitBytes). The total is the guest memory at boot; a memory hotplug
//   attaches a virtio-mem device of the whole pluggable region, and the total becomes maxGuest.
// - With memLock: Required, KubeVirt sets the limit once, before QEMU starts
//   (pkg/hypervisor/kvm/runtime.go CalculateMemlockSize): its memory overhead, addedOverhead
//   included, plus a base of maxGuest, else a non-zero requests.memory, else the guest memory. It
//   rounds the base up to a whole kB. virt-launcher cannot raise the limit later.

const GIB = 1024n ** 3n;
const MIB = 1024n ** 2n;

/** libvirt's locked-memory limit, in bytes, for a domain of totalBytes with this many vdpa interfaces. */
export function libvirtMemlockLimitBytes(vdpaInterfaces: number, totalBytes: bigint): bigint {
  return vdpaInterfaces === 0 ? 0n : BigInt(vdpaInterfaces) * totalBytes + GIB;
}

/** The guest memory a VMI has, as KubeVirt's defaults leave it. */
export interface GuestMemoryLayout {
  /** spec.domain.memory.guest: what the guest boots with. */
  guest: bigint;
  /** spec.domain.memory.maxGuest, when the VMI has one: the memory hotplug ceiling. */
  maxGuest: bigint | undefined;
  /** A non-zero spec.domain.resources.requests.memory. */
  requests: bigint | undefined;
}

/** KubeVirt's base for the memlock limit (runtime.go getVMIBaseMemory). */
export function kubevirtMemlockBase(layout: GuestMemoryLayout): bigint {
  return layout.maxGuest ?? layout.requests ?? layout.guest;
}

/** The most libvirt asks for in the VM's life: after a memory hotplug, the total is maxGuest. */
export function libvirtMemlockNeed(vdpaInterfaces: number, layout: GuestMemoryLayout): bigint {
  return libvirtMemlockLimitBytes(vdpaInterfaces, layout.maxGuest ?? layout.guest);
}

/**
 * What addedOverhead must bring: libvirt's need above KubeVirt's base, rounded up to a whole MiB.
 * KubeVirt's own overhead, which is QEMU's own memory, is not counted on: it stays a margin.
 */
export function memlockOverheadBytes(vdpaInterfaces: number, layout: GuestMemoryLayout): bigint {
  const missing = libvirtMemlockNeed(vdpaInterfaces, layout) - kubevirtMemlockBase(layout);
  return missing <= 0n ? 0n : ((missing + MIB - 1n) / MIB) * MIB;
}
