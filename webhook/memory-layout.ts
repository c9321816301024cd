// The guest memory the VMI of a VM will have, predicted from the VM's template, its instancetype
// and the KubeVirt CR, as virt-api and virt-controller will fill it in (KubeVirt v1.8.4):
// - the instancetype's memory: pkg/instancetype/apply/memory.go applyMemory (guest, maxGuest,
//   hugepages, and requests.memory lowered by overcommitPercent);
// - guest memory from requests, else limits, else the hugepage size: pkg/defaults/defaults.go
//   setGuestMemory;
// - maxGuest for memory hotplug, on every VMI when the rollout strategy is LiveUpdate (the
//   default): the CR's liveUpdateConfiguration.maxGuest, else guest x maxHotplugRatio (4 by
//   default), kept only when pkg/liveupdate/memory ValidateLiveUpdateMemory accepts it
//   (pkg/defaults/defaults.go setupMemoryHotplug).
import { isObject } from '../api/json.ts';
import type { GuestMemoryLayout } from '../api/memlock.ts';
import type { DomainSpec } from '../api/kubevirt.ts';
import { quantityField, wholeBytes } from '../api/quantity.ts';
import type { MemoryHotplugSettings } from '../cluster/kubevirt-readiness.ts';

/** What an instancetype supplies of the memory (spec.memory). */
export interface InstancetypeMemory {
  guest: string | undefined;
  maxGuest: string | undefined;
  overcommitPercent: number | undefined;
  hugepagesPageSize: string | undefined;
}

export interface LayoutInput {
  subject: string;
  /** For messages: "spec.template.spec.domain" or "spec.domain". */
  domainPath: string;
  domain: DomainSpec;
  /** spec.template.spec.architecture. */
  architecture: string | undefined;
  instancetype: InstancetypeMemory | undefined;
  hotplug: MemoryHotplugSettings;
}

export type LayoutResult =
  | { kind: 'known'; layout: GuestMemoryLayout; hugepages: boolean }
  /** Nothing gives the guest memory yet. */
  | { kind: 'unknown'; missingField: string };

const HOTPLUG_BLOCK = 2n * 1024n ** 2n;
const GIB = 1024n ** 3n;

const bytes = (subject: string, field: string, text: unknown): bigint => wholeBytes(quantityField(subject, field, text));

/** applyMemory's requests.memory for an overcommitting instancetype, in float32 as KubeVirt computes it. */
function overcommitted(guest: bigint, percent: number): bigint {
  const factor = Math.fround(1 - Math.fround(Math.fround(percent) / 100));
  return BigInt(Math.trunc(Math.fround(Math.fround(Number(guest)) * factor)));
}

export function guestMemoryLayout(input: LayoutInput): LayoutResult {
  const { subject, domainPath, domain, instancetype } = input;
  const memory = domain.memory;
  const field = (name: string) => `${domainPath}.${name}`;
  const fromInstancetype = (name: string) => `the instancetype's spec.memory.${name}`;

  let requests = domain.resources?.requests?.memory === undefined ? undefined : bytes(subject, field('resources.requests.memory'), domain.resources.requests.memory);
  const limits = domain.resources?.limits?.memory === undefined ? undefined : bytes(subject, field('resources.limits.memory'), domain.resources.limits.memory);
  let guest: bigint | undefined;
  let maxGuest: bigint | undefined;
  let pageSize = isObject(memory?.hugepages) && typeof memory.hugepages.pageSize === 'string' ? memory.hugepages.pageSize : undefined;
  if (instancetype?.guest !== undefined) {
    guest = bytes(subject, fromInstancetype('guest'), instancetype.guest);
    if (instancetype.overcommitPercent !== undefined && instancetype.overcommitPercent > 0) requests = overcommitted(guest, instancetype.overcommitPercent);
    if (instancetype.hugepagesPageSize !== undefined) pageSize = instancetype.hugepagesPageSize;
    if (instancetype.maxGuest !== undefined) maxGuest = bytes(subject, fromInstancetype('maxGuest'), instancetype.maxGuest);
  } else if (memory?.guest !== undefined) {
    guest = bytes(subject, field('memory.guest'), memory.guest);
  } else if (requests !== undefined && requests > 0n) {
    guest = requests;
  } else if (limits !== undefined && limits > 0n) {
    guest = limits;
  } else if (pageSize !== undefined) {
    guest = bytes(subject, field('memory.hugepages.pageSize'), pageSize);
  }
  if (guest === undefined) return { kind: 'unknown', missingField: field('memory.guest') };
  if (maxGuest === undefined && memory?.maxGuest !== undefined) maxGuest = bytes(subject, field('memory.maxGuest'), memory.maxGuest);
  maxGuest ??= hotplugCeiling(input, guest, pageSize);

  const layout: GuestMemoryLayout = { guest, maxGuest, requests: requests !== undefined && requests > 0n ? requests : undefined };
  return { kind: 'known', layout, hugepages: pageSize !== undefined };
}

/** setupMemoryHotplug: the maxGuest virt-api gives a VMI that has none, when hotplug can work. */
function hotplugCeiling(input: LayoutInput, guest: bigint, pageSize: string | undefined): bigint | undefined {
  const { hotplug, domain } = input;
  const architecture = input.architecture ?? hotplug.defaultArchitecture ?? 'amd64';
  if (!hotplug.liveUpdate || architecture !== 'amd64') return undefined;
  const maxGuest = hotplug.maximumGuestMemory !== undefined ? bytes(input.subject, 'the KubeVirt CR\'s spec.configuration.liveUpdateConfiguration.maxGuest', hotplug.maximumGuestMemory) : guest * BigInt(hotplug.maxHotplugRatio);
  // ValidateLiveUpdateMemory.
  if (domain.cpu?.realtime !== undefined) return undefined;
  if (isObject(domain.cpu?.numa) && domain.cpu.numa.guestMappingPassthrough !== undefined) return undefined;
  if (domain.launchSecurity !== undefined) return undefined;
  const alignment = pageSize === '1Gi' ? GIB : HOTPLUG_BLOCK;
  if (guest > maxGuest || guest % alignment !== 0n || maxGuest % alignment !== 0n || guest < GIB) return undefined;
  return maxGuest;
}
