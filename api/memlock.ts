// The locked memory a domain with vdpa interfaces needs, in one place for the webhook (which sizes
// the VM's overhead) and the test that reads libvirt's own figure from the QEMU log.
// vDPA maps all guest memory for DMA per device: libvirt's qemu driver sets QEMU's locked-memory
// limit to N x guest RAM + 1 GiB for N vdpa interfaces (qemuDomainGetMemLockLimitBytes).

const GIB = 1024n ** 3n;

/** libvirt's locked-memory limit, in bytes, for a guest of guestBytes with this many vdpa interfaces. */
export function libvirtMemlockLimitBytes(vdpaInterfaces: number, guestBytes: bigint): bigint {
  return vdpaInterfaces === 0 ? 0n : BigInt(vdpaInterfaces) * guestBytes + GIB;
}

/**
 * What the VM's reservedOverhead.addedOverhead must bring: with memLock: Required, KubeVirt's own
 * accounting already covers the guest memory once, so the rest of libvirt's figure.
 */
export function memlockOverheadBytes(vdpaInterfaces: number, guestBytes: bigint): bigint {
  return vdpaInterfaces === 0 ? 0n : libvirtMemlockLimitBytes(vdpaInterfaces, guestBytes) - guestBytes;
}
