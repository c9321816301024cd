// The sidecar container's resources: what it was measured to need, and what the install ships.
// KubeVirt gives every hook and binding sidecar of a VMI with dedicated CPUs or Guaranteed QoS cpu
// 200m and memory 64M, requests equal to limits, unless the KubeVirt CR's
// spec.configuration.supportContainerResources has an entry of type "sidecar"
// (pkg/virt-controller/services/renderresources.go sidecarResources). No Node process starts in
// 64M from a cold page cache, so the install ships its own figure; the webhook and `doctor` check
// the cluster against it.

/** Kubernetes' "M": 64M is 64,000,000 bytes, 61.0 MiB. */
const MEGA = 1_000_000;
const STEP = 16 * MEGA;

/** KubeVirt's own sidecar memory limit for dedicated-CPU and Guaranteed VMIs. */
export const KUBEVIRT_DEFAULT_SIDECAR_MEMORY_BYTES = 64 * MEGA;
export const SIDECAR_CPU = '200m';

/**
 * The smallest limit, in steps of 8M, under which the sidecar passed virt-launcher's whole flow
 * three cold starts in a row at cpu 200m: `npm run bench`, pod envelope.
 */
export const SIDECAR_MEMORY_MINIMUM_BYTES = 80 * MEGA;

/** What to ship for a measured minimum: at least 1.5 times it, rounded up to a multiple of 16M. */
export function shippedMemoryLimitBytes(minimumBytes: number): number {
  return Math.ceil((1.5 * minimumBytes) / STEP) * STEP;
}

export const SIDECAR_MEMORY_LIMIT_BYTES = shippedMemoryLimitBytes(SIDECAR_MEMORY_MINIMUM_BYTES);
/** As the KubeVirt CR patch writes it. */
export const SIDECAR_MEMORY_LIMIT = `${SIDECAR_MEMORY_LIMIT_BYTES / MEGA}M`;
