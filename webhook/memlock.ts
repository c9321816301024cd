// vDPA pins guest memory: the overhead to add is api/memlock.ts's, on top of what KubeVirt's own
// accounting (reservedOverhead.memLock: Required) already covers.
import { type GuestMemoryLayout, memlockOverheadBytes } from '../api/memlock.ts';
import type { DomainSpec, Memory, ReservedOverhead } from '../api/kubevirt.ts';
import { DEFAULT_MEMORY_HOTPLUG, type MemoryHotplugSettings } from '../cluster/kubevirt-readiness.ts';
import { guestMemoryLayout, type InstancetypeMemory } from './memory-layout.ts';
import { addQuantities, compareQuantities, formatQuantity, quantityField, quantityOf, subtractQuantities } from '../api/quantity.ts';

export const MEMLOCK_REQUIRED = 'Required';

export interface MemlockInput {
  subject: string;
  /** Where the domain is, for error messages: "spec.template.spec.domain" or "spec.domain". */
  domainPath: string;
  domain: DomainSpec;
  /** spec.template.spec.architecture. */
  architecture?: string | undefined;
  vdpaInterfaces: number;
  /** What an instancetype supplies of the memory; KubeVirt refuses memory.guest beside one. */
  instancetype?: InstancetypeMemory | undefined;
  /** The KubeVirt CR's memory hotplug settings (its defaults when it cannot be read). */
  hotplug?: MemoryHotplugSettings;
  /** What an earlier admission added, from the memlock-overhead annotation. */
  previouslyAdded: string | undefined;
  /** The annotation's name, for error messages. */
  annotation: string;
}

export type MemlockPlan =
  | { kind: 'sized'; memory: Memory; added: string; addedBytes: bigint; layout: GuestMemoryLayout; hugepages: boolean }
  /** Guest memory comes from elsewhere (an instancetype): memLock is set, the overhead cannot be. */
  | { kind: 'unsized'; memory: Memory; missingField: string };

export function planMemlock(input: MemlockInput): MemlockPlan {
  const { subject, domainPath } = input;
  const overhead: ReservedOverhead = { ...input.domain.memory?.reservedOverhead, memLock: MEMLOCK_REQUIRED };
  const memory: Memory = { ...input.domain.memory, reservedOverhead: overhead };

  const current =
    overhead.addedOverhead === undefined ? quantityOf(0n) : quantityField(subject, `${domainPath}.memory.reservedOverhead.addedOverhead`, overhead.addedOverhead);
  const previous = input.previouslyAdded === undefined ? quantityOf(0n) : quantityField(subject, `annotation ${input.annotation}`, input.previouslyAdded);
  // Someone lowered addedOverhead below what was recorded: all of what is there is theirs.
  const usersPart = compareQuantities(current, previous) >= 0 ? subtractQuantities(current, previous) : current;

  let wantedBytes = 0n;
  let layout: GuestMemoryLayout = { guest: 0n, maxGuest: undefined, requests: undefined };
  let hugepages = false;
  if (input.vdpaInterfaces > 0) {
    const result = guestMemoryLayout({
      subject,
      domainPath,
      domain: input.domain,
      architecture: input.architecture,
      instancetype: input.instancetype,
      hotplug: input.hotplug ?? DEFAULT_MEMORY_HOTPLUG,
    });
    if (result.kind === 'unknown') return { kind: 'unsized', memory, missingField: result.missingField };
    ({ layout, hugepages } = result);
    wantedBytes = memlockOverheadBytes(input.vdpaInterfaces, result.layout);
  }
  const wanted = quantityOf(wantedBytes);
  const total = addQuantities(usersPart, wanted);
  // Numerically equal keeps the user's spelling ("1024Mi" stays), so a second pass changes nothing.
  if (compareQuantities(total, current) !== 0) overhead.addedOverhead = formatQuantity(total);
  return { kind: 'sized', memory, added: formatQuantity(wanted), addedBytes: wantedBytes, layout, hugepages };
}

const bytesText = (bytes: bigint) => formatQuantity(quantityOf(bytes));

/**
 * What a sized overhead costs that the user may not expect, and what would cost less; each fits a
 * warning (120 characters). docs/usage.md gives the figures for common cases.
 */
export function memlockWarnings(plan: Extract<MemlockPlan, { kind: 'sized' }>, vdpaInterfaces: number): string[] {
  const warnings: string[] = [];
  const { layout } = plan;
  if (layout.maxGuest !== undefined && layout.maxGuest > layout.guest && vdpaInterfaces > 1) {
    const withoutHotplug = memlockOverheadBytes(vdpaInterfaces, { ...layout, maxGuest: layout.guest });
    warnings.push(`vduse: memory hotplug to ${bytesText(layout.maxGuest)} adds ${plan.added} of memlock overhead; maxGuest: ${bytesText(layout.guest)} (no hotplug) adds ${bytesText(withoutHotplug)}`);
  }
  if (plan.hugepages && plan.addedBytes > 0n) {
    warnings.push(`vduse: ${plan.added} of ordinary memory reserved for locked memory: KubeVirt counts addedOverhead outside hugepages`);
  }
  return warnings;
}
