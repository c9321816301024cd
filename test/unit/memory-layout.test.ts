// The VMI's guest memory predicted from a VM: each rule of KubeVirt's that decides it (read at
// v1.8.4; the file names are in webhook/memory-layout.ts), one case each. The cluster suite holds
// the whole prediction to what virt-api really writes, through the memlock figures.
import { describe, expect, it } from 'vitest';
import { DEFAULT_MEMORY_HOTPLUG, memoryHotplugSettings } from '../../cluster/kubevirt-readiness.ts';
import type { DomainSpec } from '../../api/kubevirt.ts';
import { guestMemoryLayout, type InstancetypeMemory, type LayoutInput } from '../../webhook/memory-layout.ts';

const GI = 1024n ** 3n;
const MI = 1024n ** 2n;
const layoutOf = (domain: Partial<DomainSpec>, extra: Partial<LayoutInput> = {}) =>
  guestMemoryLayout({ subject: 'VirtualMachine telco/vm', domainPath: 'spec.template.spec.domain', domain: { devices: {}, ...domain }, architecture: undefined, instancetype: undefined, hotplug: DEFAULT_MEMORY_HOTPLUG, ...extra });
const instancetype = (memory: Partial<InstancetypeMemory>): InstancetypeMemory => ({ guest: undefined, maxGuest: undefined, overcommitPercent: undefined, hugepagesPageSize: undefined, ...memory });

describe('the guest memory layout virt-api gives a VM', () => {
  it('guest memory from memory.guest, else requests, else limits, else the hugepage size (setGuestMemory)', () => {
    expect(layoutOf({ memory: { guest: '512Mi' } })).toMatchObject({ layout: { guest: 512n * MI } });
    expect(layoutOf({ resources: { requests: { memory: '768Mi' } } })).toMatchObject({ layout: { guest: 768n * MI, requests: 768n * MI } });
    expect(layoutOf({ resources: { limits: { memory: '640Mi' } } })).toMatchObject({ layout: { guest: 640n * MI, requests: undefined } });
    expect(layoutOf({ memory: { hugepages: { pageSize: '2Mi' } } })).toMatchObject({ layout: { guest: 2n * MI }, hugepages: true });
    expect(layoutOf({})).toEqual({ kind: 'unknown', missingField: 'spec.template.spec.domain.memory.guest' });
  });

  it('maxGuest is four times a guest of 1Gi or more, 2Mi-aligned (setupMemoryHotplug, ValidateLiveUpdateMemory)', () => {
    expect(layoutOf({ memory: { guest: '4Gi' } })).toMatchObject({ layout: { guest: 4n * GI, maxGuest: 16n * GI } });
    expect(layoutOf({ memory: { guest: '1000Mi' } })).toMatchObject({ layout: { maxGuest: undefined } });
    expect(layoutOf({ memory: { guest: '1.5G' } })).toMatchObject({ layout: { maxGuest: undefined } });
    // 1Gi hugepages need 1Gi alignment.
    expect(layoutOf({ memory: { guest: '3Gi', hugepages: { pageSize: '1Gi' } } })).toMatchObject({ layout: { maxGuest: 12n * GI } });
    expect(layoutOf({ memory: { guest: '1025Mi', hugepages: { pageSize: '1Gi' } } })).toMatchObject({ layout: { maxGuest: undefined } });
  });

  it('no hotplug for realtime, guest mapping passthrough, launch security or another architecture', () => {
    expect(layoutOf({ memory: { guest: '4Gi' }, cpu: { realtime: {} } })).toMatchObject({ layout: { maxGuest: undefined } });
    expect(layoutOf({ memory: { guest: '4Gi' }, cpu: { numa: { guestMappingPassthrough: {} } } })).toMatchObject({ layout: { maxGuest: undefined } });
    expect(layoutOf({ memory: { guest: '4Gi' }, launchSecurity: {} })).toMatchObject({ layout: { maxGuest: undefined } });
    expect(layoutOf({ memory: { guest: '4Gi' } }, { architecture: 'arm64' })).toMatchObject({ layout: { maxGuest: undefined } });
    expect(layoutOf({ memory: { guest: '4Gi' } }, { hotplug: { ...DEFAULT_MEMORY_HOTPLUG, defaultArchitecture: 's390x' } })).toMatchObject({ layout: { maxGuest: undefined } });
  });

  it("the KubeVirt CR's rollout strategy and liveUpdateConfiguration decide it", () => {
    const cr = (configuration: object) => memoryHotplugSettings({ spec: { configuration } });
    expect(cr({})).toEqual(DEFAULT_MEMORY_HOTPLUG);
    expect(layoutOf({ memory: { guest: '4Gi' } }, { hotplug: cr({ vmRolloutStrategy: 'Stage' }) })).toMatchObject({ layout: { maxGuest: undefined } });
    expect(layoutOf({ memory: { guest: '4Gi' } }, { hotplug: cr({ liveUpdateConfiguration: { maxHotplugRatio: 2 } }) })).toMatchObject({ layout: { maxGuest: 8n * GI } });
    expect(layoutOf({ memory: { guest: '4Gi' } }, { hotplug: cr({ liveUpdateConfiguration: { maxGuest: '64Gi' } }) })).toMatchObject({ layout: { maxGuest: 64n * GI } });
    // A cluster maxGuest below the guest: KubeVirt gives no hotplug.
    expect(layoutOf({ memory: { guest: '4Gi' } }, { hotplug: cr({ liveUpdateConfiguration: { maxGuest: '2Gi' } }) })).toMatchObject({ layout: { maxGuest: undefined } });
  });

  it("a VM's own maxGuest wins, even equal to its guest (no hotplug then)", () => {
    expect(layoutOf({ memory: { guest: '4Gi', maxGuest: '4Gi' } })).toMatchObject({ layout: { maxGuest: 4n * GI } });
  });

  it("an instancetype's guest, maxGuest and hugepages, and requests lowered by overcommitPercent in float32 (applyMemory)", () => {
    expect(layoutOf({}, { instancetype: instancetype({ guest: '2Gi', maxGuest: '6Gi', hugepagesPageSize: '2Mi' }) })).toMatchObject({ layout: { guest: 2n * GI, maxGuest: 6n * GI }, hugepages: true });
    // o1.nano: 512Mi, 50%: KubeVirt's int64(float32(536870912) * (1 - float32(50)/100)).
    expect(layoutOf({}, { instancetype: instancetype({ guest: '512Mi', overcommitPercent: 50 }) })).toMatchObject({ layout: { guest: 512n * MI, requests: 256n * MI, maxGuest: undefined } });
    // 1Gi at 30%: in float32, 751619264 bytes; in exact arithmetic it would be 751619276.
    expect(layoutOf({}, { instancetype: instancetype({ guest: '1Gi', overcommitPercent: 30 }) })).toMatchObject({ layout: { requests: 751_619_264n } });
  });

  it('names the field of an unreadable quantity', () => {
    expect(() => layoutOf({ memory: { guest: '4Gi', maxGuest: 'lots' } })).toThrow('spec.template.spec.domain.memory.maxGuest: got "lots"');
    expect(() => layoutOf({}, { instancetype: instancetype({ guest: 'x' }) })).toThrow("the instancetype's spec.memory.guest");
  });
});
