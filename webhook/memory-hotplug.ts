// The memory-hotplug policy: whether the webhook turns KubeVirt's memory hotplug off for a VM.
//
// libvirt counts every vdpa interface in its locked-memory limit, N x the domain's total memory +
// 1 GiB, whatever the kernel pins (api/memlock.ts); after a hotplug the total is maxGuest. virt-api
// gives every VM it can a maxGuest of four times its guest memory (pkg/defaults setupMemoryHotplug),
// so with two VDUSE interfaces a 4Gi VM's Pod asks for 17Gi more memory, nearly all for a limit
// that VDUSE never uses (it pins nothing: VA mode). With one interface, hotplug costs nothing
// extra: KubeVirt's own memlock base is maxGuest already.
//
// "auto" (the default): with two or more VDUSE interfaces, maxGuest is set to the guest memory,
// which KubeVirt treats as no hotplug (pkg/virt-launcher/virtwrap/converter/compute/memory.go).
// "keep": KubeVirt's hotplug as it is. A maxGuest the user wrote, or that the instancetype gives, is
// always kept: the annotation vduse.kubevirt.io/max-guest records the webhook's own.
import type { Memory } from '../api/kubevirt.ts';
import { memlockOverheadBytes } from '../api/memlock.ts';
import { formatQuantity, quantityOf } from '../api/quantity.ts';
import type { MemoryHotplugPolicy } from '../api/tuning.ts';
import { guestMemoryLayout, type LayoutInput } from './memory-layout.ts';
import { isWebhooksMaxGuest } from './ownership.ts';

export interface HotplugInput extends LayoutInput {
  policy: MemoryHotplugPolicy;
  vdpaInterfaces: number;
  /** The maxGuest an earlier admission set, from vduse.kubevirt.io/max-guest. */
  recorded: string | undefined;
}

export interface HotplugPlan {
  /** The domain's memory with maxGuest as the policy leaves it. */
  memory: Memory | undefined;
  /** What goes in vduse.kubevirt.io/max-guest: the maxGuest the webhook set, if it set one. */
  recorded: string | undefined;
  /** When the webhook sets or changes maxGuest: both overheads, for the user. */
  warning: string | undefined;
}

const bytesText = (bytes: bigint) => formatQuantity(quantityOf(bytes));

export function planMemoryHotplug(input: HotplugInput): HotplugPlan {
  const current = input.domain.memory;
  const ours = isWebhooksMaxGuest(input.subject, input.domainPath, input.recorded, current);
  const memory: Memory | undefined = ours ? withoutMaxGuest(current!) : current;
  const unchanged: HotplugPlan = { memory: current, recorded: ours ? input.recorded : undefined, warning: undefined };
  const layout = guestMemoryLayout({ ...input, domain: { ...input.domain, ...(memory ? { memory } : {}) } });
  // Nothing gives the guest memory yet (an instancetype still to be read): decide next time.
  if (layout.kind === 'unknown') return unchanged;
  const { guest, maxGuest } = layout.layout;
  const hotplugs = maxGuest !== undefined && maxGuest > guest;
  const usersOwn = memory?.maxGuest !== undefined || input.instancetype?.maxGuest !== undefined;
  if (input.policy !== 'auto' || input.vdpaInterfaces < 2 || !hotplugs || usersOwn) {
    return { memory, recorded: undefined, warning: undefined };
  }
  const value = bytesText(guest);
  const warning =
    ours && input.recorded === value
      ? undefined
      : `vduse: maxGuest set to ${value} (no memory hotplug): memlock overhead ` +
        `${bytesText(memlockOverheadBytes(input.vdpaInterfaces, { ...layout.layout, maxGuest: guest }))} instead of ` +
        `${bytesText(memlockOverheadBytes(input.vdpaInterfaces, layout.layout))} for ${input.vdpaInterfaces} VDUSE interfaces`;
  return { memory: { ...memory, maxGuest: value }, recorded: value, warning };
}

function withoutMaxGuest(memory: Memory): Memory | undefined {
  const rest: Memory = { ...memory };
  delete rest.maxGuest;
  return Object.keys(rest).length > 0 ? rest : undefined;
}
