// The admission decision, without a server: who is mutated, what the patch does (applied with an
// independent RFC 6902 implementation and checked against KubeVirt's schema), what is denied.
import { describe, expect, it } from 'vitest';
import type { VirtualMachine } from '../../api/kubevirt.ts';
import { applyIndependently, decideFor, kubevirtWith, NADS, POLICY_ENABLED, READY_KUBEVIRT, type Scenario } from '../helpers/admission.ts';
import { schemaErrors } from '../helpers/kubevirt-schema.ts';
import { NAMESPACE, roundTripVm, VDUSE_RESOURCE, virtctlVm, vmWith } from '../helpers/vms.ts';

const TEMPLATE = '/spec/template';

function mutate(object: VirtualMachine | Record<string, unknown>, scenario: Scenario = {}) {
  const decision = decideFor(object, scenario);
  expect(decision.allowed, decision.reason).toBe(true);
  const result = applyIndependently(object, decision.patch);
  return { decision, result: result as VirtualMachine };
}

const template = (vm: VirtualMachine) => vm.spec.template;
const iface = (vm: VirtualMachine, name: string) => template(vm).spec!.domain.devices.interfaces!.find((i) => i.name === name)!;

describe('who is mutated', () => {
  const twoNetworks = () => vmWith({ multus: { dataplane: 'ovs-vduse-a', storage: 'sriov-net' } });

  it.each([
    ['the Namespace has policy=enabled', { namespaceLabels: POLICY_ENABLED }, {}, true],
    ['the VM has enabled=true, no Namespace policy', {}, { 'vduse.kubevirt.io/enabled': 'true' }, true],
    ['the VM opts out in an enabled Namespace', { namespaceLabels: POLICY_ENABLED }, { 'vduse.kubevirt.io/enabled': 'false' }, false],
    ['neither says anything', {}, {}, false],
    ['the Namespace has policy=disabled and the VM says nothing', { namespaceLabels: { 'vduse.kubevirt.io/policy': 'disabled' } }, {}, false],
  ] as const)('%s', (_title, scenario, labels, wanted) => {
    const decision = decideFor(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, labels }), scenario);
    expect(decision.allowed).toBe(true);
    expect(decision.outcome).toBe(wanted ? 'mutated' : 'skipped');
    expect(decision.patch.length > 0).toBe(wanted);
  });

  it('denies a VM that asks for VDUSE in a disabled Namespace, saying so', () => {
    const decision = decideFor(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, labels: { 'vduse.kubevirt.io/enabled': 'true' } }), {
      namespaceLabels: { 'vduse.kubevirt.io/policy': 'disabled' },
    });
    expect(decision.allowed).toBe(false);
    expect(decision.reason).toContain(`Namespace ${NAMESPACE} has vduse.kubevirt.io/policy=disabled`);
    expect(decision.reason).toContain('VirtualMachine telco/vm-cirros');
  });

  it.each([
    ['a VM label', { labels: { 'vduse.kubevirt.io/enabled': 'yes' } }, {}, 'label vduse.kubevirt.io/enabled: got "yes"; expected "true" or "false"'],
    ['a Namespace label', {}, { namespaceLabels: { 'vduse.kubevirt.io/policy': 'on' } }, 'Namespace telco: label vduse.kubevirt.io/policy: got "on"; expected one of enabled, disabled'],
  ])('denies an invalid value of %s, naming it', (_title, shape, scenario, message) => {
    const decision = decideFor(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, ...shape }), scenario);
    expect(decision).toMatchObject({ allowed: false });
    expect(decision.reason).toContain(message);
  });

  it('skips objects being deleted, Namespaces the config excludes, and other operations', () => {
    const vm = twoNetworks();
    expect(decideFor({ ...vm, metadata: { ...vm.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } }, { namespaceLabels: POLICY_ENABLED }).outcome).toBe('skipped');
    expect(decideFor(vm, { namespaceLabels: POLICY_ENABLED, config: { excludedNamespaces: [NAMESPACE] } }).outcome).toBe('skipped');
    expect(decideFor(vm, { namespaceLabels: POLICY_ENABLED, operation: 'DELETE' }).outcome).toBe('skipped');
  });

  it('leaves alone an UPDATE of a mutated VM whose policy has since gone, stripping nothing', () => {
    const { result } = mutate(twoNetworks(), { namespaceLabels: POLICY_ENABLED });
    const decision = decideFor(result, { operation: 'UPDATE' });
    expect(decision).toMatchObject({ allowed: true, outcome: 'skipped', patch: [] });
  });

  describe('when the Namespace cannot be read', () => {
    it('denies by default, naming the Namespace and the reason', () => {
      const decision = decideFor(twoNetworks(), { namespaceUnreadable: 'HTTP 503' });
      expect(decision.allowed).toBe(false);
      expect(decision.reason).toContain('cannot read Namespace telco');
      expect(decision.reason).toContain('HTTP 503');
    });

    it('goes on with per-VM opt-in only when the config says allow', () => {
      const config = { onLookupFailure: 'allow' as const };
      expect(decideFor(twoNetworks(), { namespaceUnreadable: 'timeout', config }).outcome).toBe('skipped');
      const optedIn = vmWith({ multus: { dataplane: 'ovs-vduse-a' }, labels: { 'vduse.kubevirt.io/enabled': 'true' } });
      expect(decideFor(optedIn, { namespaceUnreadable: 'timeout', config }).outcome).toBe('mutated');
    });
  });
});

describe('which interfaces', () => {
  it('takes the Multus networks whose NetworkAttachmentDefinition names the VDUSE resource', () => {
    const vm = vmWith({ multus: { dataplane: 'ovs-vduse-a', storage: 'sriov-net', mgmt: 'no-such-nad' } });
    const { decision, result } = mutate(vm, { namespaceLabels: POLICY_ENABLED });
    expect(decision.interfaces).toEqual(['dataplane']);
    expect(iface(result, 'dataplane')).toEqual({ name: 'dataplane', model: 'virtio', binding: { name: 'vduse' } });
    expect(iface(result, 'storage')).toEqual({ name: 'storage', bridge: {} });
    expect(iface(result, 'default')).toEqual({ name: 'default', masquerade: {} });
  });

  it('resolves "namespace/name" Multus references in another Namespace', () => {
    const vm = vmWith({ multus: { dataplane: 'shared/ovs-vduse' } });
    const decision = decideFor(vm, { namespaceLabels: POLICY_ENABLED, nads: {} });
    expect(decision.outcome).toBe('skipped');
    const shared = decideFor(vm, { namespaceLabels: POLICY_ENABLED, nads: { 'shared/ovs-vduse': VDUSE_RESOURCE, 'ovs-vduse': 'other.io/net' } });
    expect(shared.interfaces).toEqual(['dataplane']);
  });

  it('keeps macAddress, pciAddress, bootOrder, acpiIndex and the rest, dropping every other binding method', () => {
    const fields = { macAddress: '02:00:00:00:00:10', pciAddress: '0000:0a:00.0', bootOrder: 2, acpiIndex: 3, tag: 'fast', dhcpOptions: { bootFileName: 'pxe' } };
    const vm = vmWith({ multus: { dataplane: 'ovs-vduse-a' }, interfaceFields: { dataplane: { ...fields, sriov: {} } } });
    const { result } = mutate(vm, { namespaceLabels: POLICY_ENABLED });
    expect(iface(result, 'dataplane')).toEqual({ name: 'dataplane', ...fields, model: 'virtio', binding: { name: 'vduse' } });
  });

  it('converts the pod network only when named, from the VM or else the Namespace', () => {
    const vm = vmWith({ multus: { dataplane: 'ovs-vduse-a' }, annotations: { 'vduse.kubevirt.io/networks': 'default' } });
    const { result, decision } = mutate(vm, { namespaceLabels: POLICY_ENABLED });
    expect(decision.interfaces).toEqual(['default']);
    expect(iface(result, 'default')).toEqual({ name: 'default', model: 'virtio', binding: { name: 'vduse' } });
    expect(iface(result, 'dataplane')).toEqual({ name: 'dataplane', bridge: {} });

    const byNamespace = decideFor(vmWith({ multus: { dataplane: 'ovs-vduse-a', storage: 'sriov-net' } }), {
      namespaceLabels: POLICY_ENABLED,
      namespaceAnnotations: { 'vduse.kubevirt.io/networks': 'storage' },
    });
    expect(byNamespace.interfaces).toEqual(['storage']);
  });

  it('denies a networks annotation that names a network the VM does not have', () => {
    const decision = decideFor(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, annotations: { 'vduse.kubevirt.io/networks': 'dataplane,missing' } }), {
      namespaceLabels: POLICY_ENABLED,
    });
    expect(decision.allowed).toBe(false);
    expect(decision.reason).toContain('annotation vduse.kubevirt.io/networks names "missing", which spec.template.spec.networks does not have (it has default, dataplane)');
  });

  it('denies a non-virtio model, naming the interface and what keeps it off VDUSE, as the VDUSE network was chosen', () => {
    const e1000e = { dataplane: { model: 'e1000e' } };
    const byNad = decideFor(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, interfaceFields: e1000e }), { namespaceLabels: POLICY_ENABLED });
    expect(byNad.allowed).toBe(false);
    expect(byNad.reason).toContain('spec.template.spec.domain.devices.interfaces[1].model: interface "dataplane" has model "e1000e"');
    // Through its NetworkAttachmentDefinition: there is no networks annotation to take it out of.
    expect(byNad.reason).toMatch(/: remove the model, or label the VM vduse\.kubevirt\.io\/enabled: "false" to convert none of its interfaces$/);
    const beside = decideFor(vmWith({ multus: { dataplane: 'ovs-vduse-a', storage: 'ovs-vduse-b' }, interfaceFields: e1000e }), { namespaceLabels: POLICY_ENABLED });
    expect(beside.reason).toMatch(/: remove the model, or annotate the VM vduse\.kubevirt\.io\/networks: "storage" to convert only those, or label the VM vduse\.kubevirt\.io\/enabled: "false" to convert none of its interfaces$/);
    // The list it names works: the VM is admitted with it.
    const listed = vmWith({ multus: { dataplane: 'ovs-vduse-a', storage: 'ovs-vduse-b' }, interfaceFields: e1000e, annotations: { 'vduse.kubevirt.io/networks': 'storage' } });
    expect(mutate(listed, { namespaceLabels: POLICY_ENABLED }).decision.interfaces).toEqual(['storage']);
    const byVmList = decideFor(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, interfaceFields: e1000e, annotations: { 'vduse.kubevirt.io/networks': 'dataplane' } }), { namespaceLabels: POLICY_ENABLED });
    expect(byVmList.reason).toMatch(/: remove the model, or take the interface out of vduse\.kubevirt\.io\/networks$/);
  });

  it('keeps a virtio model', () => {
    const { result } = mutate(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, interfaceFields: { dataplane: { model: 'virtio' } } }), { namespaceLabels: POLICY_ENABLED });
    expect(iface(result, 'dataplane')).toEqual({ name: 'dataplane', model: 'virtio', binding: { name: 'vduse' } });
  });

  it('denies when a NetworkAttachmentDefinition cannot be read, or warns and skips the network when the config says allow', () => {
    const vm = vmWith({ multus: { dataplane: 'ovs-vduse-a', storage: 'broken' } });
    const nads = { ...NADS, broken: null };
    const denied = decideFor(vm, { namespaceLabels: POLICY_ENABLED, nads });
    expect(denied.allowed).toBe(false);
    expect(denied.reason).toContain('storage (HTTP 500)');
    const allowed = decideFor(vm, { namespaceLabels: POLICY_ENABLED, nads, config: { onLookupFailure: 'allow' } });
    expect(allowed.interfaces).toEqual(['dataplane']);
    expect(allowed.warnings).toContain('vduse: left unconverted, NetworkAttachmentDefinition unreadable: storage');
  });

  it('admits a wanted VM with no VDUSE network unchanged, saying why', () => {
    const decision = decideFor(vmWith({ multus: { storage: 'sriov-net' } }), { namespaceLabels: POLICY_ENABLED });
    expect(decision).toMatchObject({ allowed: true, outcome: 'skipped', patch: [] });
    // It has a pod network: the warning points at the annotation that makes one VDUSE.
    expect(decision.warnings).toEqual(['vduse: skipped: wanted (Namespace policy), but no interface is on a VDUSE network (see vduse.kubevirt.io/pod-network)']);
    const noPodNetwork = vmWith({ multus: { storage: 'sriov-net' }, labels: { 'vduse.kubevirt.io/enabled': 'true' } });
    noPodNetwork.spec.template.spec!.networks = noPodNetwork.spec.template.spec!.networks!.filter((network) => network.pod === undefined);
    noPodNetwork.spec.template.spec!.domain.devices.interfaces = noPodNetwork.spec.template.spec!.domain.devices.interfaces!.filter((entry) => entry.name !== 'default');
    expect(decideFor(noPodNetwork).warnings).toEqual(['vduse: skipped: wanted (VM label), but no interface is on a VDUSE network']);
  });
});

describe('which binding: the cloud-init one only where virt-launcher can call PreCloudInitIso', () => {
  const coalesced = { 'vduse.kubevirt.io/coalesce': 'adaptive-rx' };
  const bindingOf = (vm: VirtualMachine) => iface(vm, 'dataplane').binding?.name;

  it.each([
    ['coalescing and a cloud-init volume', { annotations: coalesced }, 'vduse-cloudinit'],
    ['coalescing but no cloud-init volume', { annotations: coalesced, withoutCloudInit: true }, 'vduse'],
    ['a cloud-init volume but coalescing off', {}, 'vduse'],
  ] as const)('%s: %s', (_title, shape, binding) => {
    const { result } = mutate(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, ...shape }), { namespaceLabels: POLICY_ENABLED });
    expect(bindingOf(result)).toBe(binding);
  });

  it('chooses again on every update: a VM that loses its cloud-init volume goes back to the plain binding', () => {
    const { result } = mutate(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, annotations: coalesced }), { namespaceLabels: POLICY_ENABLED });
    expect(bindingOf(result)).toBe('vduse-cloudinit');
    result.spec.template.spec!.volumes = result.spec.template.spec!.volumes!.filter((volume) => !volume.cloudInitNoCloud);
    const { result: updated, decision } = mutate(result, { namespaceLabels: POLICY_ENABLED, operation: 'UPDATE' });
    expect(bindingOf(updated)).toBe('vduse');
    expect(decision.warnings.join()).toContain('coalescing not delivered');
  });

  it('rebinds a hand-written vduse-cloudinit on a VM without cloud-init, and leaves a hand-written vduse alone', () => {
    const handWritten = (binding: string) => {
      const vm = vmWith({ withoutCloudInit: true, labels: { 'vduse.kubevirt.io/enabled': 'true' }, multus: { dataplane: 'sriov-net' } });
      vm.spec.template.spec!.domain.devices.interfaces![1] = { name: 'dataplane', binding: { name: binding } };
      return vm;
    };
    const { result, decision } = mutate(handWritten('vduse-cloudinit'));
    expect(bindingOf(result)).toBe('vduse');
    expect(decision.interfaces).toEqual(['dataplane']);
    // A hand-written vduse keeps its binding, and gets model virtio so that no preference fills another.
    const { result: plain, decision: plainDecision } = mutate(handWritten('vduse'));
    expect(plainDecision).toMatchObject({ allowed: true, interfaces: ['dataplane'] });
    expect(iface(plain, 'dataplane')).toEqual({ name: 'dataplane', model: 'virtio', binding: { name: 'vduse' } });
    expect(plainDecision.warnings.join()).not.toContain('now use binding');
  });

  it('refuses a VM it does not convert whose hand-written interfaces use both bindings, or the cloud-init one without cloud-init', () => {
    const handWritten = (bindings: string[], withoutCloudInit = false) => {
      const vm = vmWith({ withoutCloudInit, multus: { dataplane: 'sriov-net', storage: 'sriov-net' } });
      bindings.forEach((binding, index) => (vm.spec.template.spec!.domain.devices.interfaces![index + 1] = { name: index === 0 ? 'dataplane' : 'storage', binding: { name: binding } }));
      return vm;
    };
    const optedOut = { namespaceLabels: POLICY_ENABLED, operation: 'UPDATE' } as const;
    const both = decideFor({ ...handWritten(['vduse', 'vduse-cloudinit']), metadata: { ...handWritten([]).metadata, labels: { 'vduse.kubevirt.io/enabled': 'false' } } }, optedOut);
    expect(both).toMatchObject({ allowed: false });
    expect(both.reason).toBe(
      'VirtualMachine telco/vm-cirros: spec.template.spec.domain.devices.interfaces: interfaces dataplane use binding vduse and storage use binding vduse-cloudinit; one VMI may use only one of the two (each brings its own sidecar): bind them all to vduse',
    );
    const noCloudInit = decideFor(handWritten(['vduse-cloudinit'], true), {});
    expect(noCloudInit.reason).toContain('interfaces dataplane use binding vduse-cloudinit, whose sidecar needs a cloudInitNoCloud or cloudInitConfigDrive volume');
    expect(decideFor(handWritten(['vduse', 'vduse']), {}).outcome).toBe('skipped');
    // Converted, both end on one binding.
    const { result } = mutate(handWritten(['vduse', 'vduse-cloudinit']), { namespaceLabels: POLICY_ENABLED });
    expect(new Set(template(result).spec!.domain.devices.interfaces!.flatMap((i) => (i.binding ? [i.binding.name] : [])))).toEqual(new Set(['vduse']));
  });

  it('uses the configured plugin name for both', () => {
    const { result } = mutate(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, annotations: coalesced }), { namespaceLabels: POLICY_ENABLED, config: { pluginName: 'vdpa' }, kubevirt: null });
    expect(bindingOf(result)).toBe('vdpa-cloudinit');
  });
});

describe('tuning annotations', () => {
  const vm = (shape: Parameters<typeof vmWith>[0] = {}) => vmWith({ multus: { dataplane: 'ovs-vduse-a' }, ...shape });
  const annotations = (result: VirtualMachine) => template(result).metadata!.annotations!;

  it('writes the resolved values on the template, keeping the other annotations', () => {
    const { result } = mutate(vm({ templateAnnotations: { 'example.com/keep': 'me' } }), { namespaceLabels: POLICY_ENABLED });
    expect(annotations(result)).toEqual({
      'example.com/keep': 'me',
      'vduse.kubevirt.io/rx-queue-size': '1024',
      'vduse.kubevirt.io/tx-queue-size': '1024',
      'vduse.kubevirt.io/queues': '1',
      'vduse.kubevirt.io/coalesce': 'off',
      'vduse.kubevirt.io/memory-hotplug': 'auto',
      'vduse.kubevirt.io/memlock-overhead': '1Gi',
      'vduse.kubevirt.io/defaulted':
        'reservedOverhead.memLock,vduse.kubevirt.io/coalesce,vduse.kubevirt.io/memory-hotplug,vduse.kubevirt.io/queues,vduse.kubevirt.io/rx-queue-size,vduse.kubevirt.io/tx-queue-size',
    });
  });

  it('resolves VM over template over Namespace over cluster config', () => {
    const { result } = mutate(
      vm({
        annotations: { 'vduse.kubevirt.io/rx-queue-size': '256' },
        templateAnnotations: { 'vduse.kubevirt.io/rx-queue-size': '1024', 'vduse.kubevirt.io/tx-queue-size': '512' },
      }),
      {
        namespaceLabels: POLICY_ENABLED,
        namespaceAnnotations: { 'vduse.kubevirt.io/tx-queue-size': '256', 'vduse.kubevirt.io/queues': '4' },
        config: { defaultTuning: { queues: 2, rxQueueSize: 512 } },
      },
    );
    expect(annotations(result)).toMatchObject({
      'vduse.kubevirt.io/rx-queue-size': '256',
      'vduse.kubevirt.io/tx-queue-size': '512',
      'vduse.kubevirt.io/queues': '4',
    });
  });

  it.each([
    ['the VM', { annotations: { 'vduse.kubevirt.io/rx-queue-size': '300' } }, {}, 'VirtualMachine telco/vm-cirros: annotation vduse.kubevirt.io/rx-queue-size: got "300"; expected a power of two from 256 to 1024'],
    ['the Namespace', {}, { namespaceAnnotations: { 'vduse.kubevirt.io/queues': '0' } }, 'Namespace telco: annotation vduse.kubevirt.io/queues: got "0"; expected an integer from 1 to 128'],
    ['the template', { templateAnnotations: { 'vduse.kubevirt.io/coalesce': 'rx-usecs=fast' } }, {}, 'annotation vduse.kubevirt.io/coalesce: got "rx-usecs=fast"'],
  ])('denies a bad value on %s with the annotation, the value and the range', (_title, shape, scenario, message) => {
    const decision = decideFor(vm(shape), { namespaceLabels: POLICY_ENABLED, ...scenario });
    expect(decision.allowed).toBe(false);
    expect(decision.reason).toContain(message);
  });

  it('warns when coalescing is asked of a VM without a cloud-init volume', () => {
    const decision = decideFor(vm({ withoutCloudInit: true, annotations: { 'vduse.kubevirt.io/coalesce': 'adaptive-rx' } }), { namespaceLabels: POLICY_ENABLED });
    expect(decision.allowed).toBe(true);
    expect(decision.warnings).toContain('vduse: coalescing not delivered: it needs a cloud-init volume, which this VM lacks; set it in the guest (ethtool -C)');
    expect(decideFor(vm({ annotations: { 'vduse.kubevirt.io/coalesce': 'adaptive-rx' } }), { namespaceLabels: POLICY_ENABLED }).warnings.join()).not.toContain('cloud-init');
  });

  it('keeps every warning within 120 characters', () => {
    const longest = [
      // Every key of ours misspelt by a few characters, in every place it can be.
      ...decideFor(
        vmWith({
          multus: { dataplane: 'ovs-vduse-a' },
          annotations: { 'vduse.kubevirt.io/memlock-overheads-x': '1Gi', 'vduse.kubevirt.io/enabled': 'true' },
          templateAnnotations: { 'vduse.kubevirt.io/memlock-overheads-x': '1Gi' },
        }),
        { namespaceLabels: POLICY_ENABLED, namespaceAnnotations: { 'vduse.kubevirt.io/memlock-overhead': '1Gi', 'vduse.kubevirt.io/memory-hotplugged': 'keep' } },
      ).warnings,
      ...decideFor(virtctlVm(), { namespaceLabels: POLICY_ENABLED }).warnings,
    ];
    expect(longest).toHaveLength(7);
    for (const warning of longest) expect(warning.length, warning).toBeLessThanOrEqual(120);
    const many = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`dataplane-network-${i}`, 'ovs-vduse-a']));
    const decision = decideFor(vmWith({ multus: many }), { namespaceLabels: POLICY_ENABLED });
    expect(decision.interfaces).toHaveLength(12);
    expect(decision.warnings.length).toBeGreaterThan(0);
    for (const warning of decision.warnings) expect(warning.length).toBeLessThanOrEqual(120);
  });
});

describe('memory lock overhead', () => {
  // libvirt asks for N x the domain's total memory + 1Gi, the total reaching maxGuest after a memory
  // hotplug; KubeVirt's limit is its own overhead plus a base of maxGuest, else requests.memory,
  // else guest; addedOverhead brings the difference. virt-api gives every VMI with guest memory of
  // 1Gi or more, 2Mi-aligned, maxGuest = 4 x guest (LiveUpdate, KubeVirt's default). The cluster
  // suite (test/cluster/virt-launcher.test.ts) holds these figures to KubeVirt's and libvirt's own.
  const memory = (result: VirtualMachine) => template(result).spec!.domain.memory!;
  const memlock = (result: VirtualMachine) => template(result).metadata!.annotations!['vduse.kubevirt.io/memlock-overhead'];
  const stage = { ...READY_KUBEVIRT, spec: { ...READY_KUBEVIRT.spec, configuration: { ...READY_KUBEVIRT.spec.configuration, vmRolloutStrategy: 'Stage' } } };

  const keep = { 'vduse.kubevirt.io/memory-hotplug': 'keep' };
  it.each([
    ['one interface, 128Mi guest (under 1Gi, so no hotplug): 128Mi + 1Gi over a base of 128Mi', { dataplane: 'ovs-vduse-a' }, { guest: '128Mi' }, READY_KUBEVIRT, {}, '1Gi'],
    ['two interfaces, 2Gi guest, memory-hotplug keep: maxGuest 8Gi, 2 x 8Gi + 1Gi over a base of 8Gi', { a: 'ovs-vduse-a', b: 'ovs-vduse-b' }, { guest: '2Gi' }, READY_KUBEVIRT, keep, '9Gi'],
    ['two interfaces, 2Gi guest, memory-hotplug auto (the default): maxGuest set to 2Gi, 2 x 2Gi + 1Gi over a base of 2Gi', { a: 'ovs-vduse-a', b: 'ovs-vduse-b' }, { guest: '2Gi' }, READY_KUBEVIRT, {}, '3Gi'],
    ['two interfaces, 2Gi guest, rollout strategy Stage (no hotplug): 2 x 2Gi + 1Gi over a base of 2Gi', { a: 'ovs-vduse-a', b: 'ovs-vduse-b' }, { guest: '2Gi' }, stage, keep, '3Gi'],
    ['two interfaces, maxGuest equal to guest (hotplug off): 2 x 2Gi + 1Gi over a base of 2Gi', { a: 'ovs-vduse-a', b: 'ovs-vduse-b' }, { guest: '2Gi', maxGuest: '2Gi' }, READY_KUBEVIRT, keep, '3Gi'],
    ['three interfaces, 1.5G guest (not 2Mi-aligned, so no hotplug): 2 x 1.5G + 1Gi, rounded up to a MiB', { a: 'ovs-vduse-a', b: 'ovs-vduse-b', c: 'ovs-vduse-a' }, { guest: '1.5G' }, READY_KUBEVIRT, {}, '3886Mi'],
    ['one interface, cluster maxGuest 64Gi: 64Gi + 1Gi over a base of 64Gi', { a: 'ovs-vduse-a' }, { guest: '4Gi' }, { ...READY_KUBEVIRT, spec: { ...READY_KUBEVIRT.spec, configuration: { ...READY_KUBEVIRT.spec.configuration, liveUpdateConfiguration: { maxGuest: '64Gi' } } } }, {}, '1Gi'],
  ])('%s', (_title, multus, guestMemory, kubevirt, annotations, added) => {
    const { result } = mutate(vmWith({ multus, memory: guestMemory, annotations }), { namespaceLabels: POLICY_ENABLED, kubevirt });
    expect(memory(result).reservedOverhead).toEqual({ memLock: 'Required', addedOverhead: added });
    expect(memlock(result)).toBe(added);
  });

  it('requests below the guest memory: the base is requests.memory, so the overhead brings the rest of the guest', () => {
    const { result } = mutate(vmWith({ multus: { a: 'ovs-vduse-a' }, memory: { guest: '1000Mi' }, requestsMemory: '256Mi' }), { namespaceLabels: POLICY_ENABLED });
    // 1000Mi + 1Gi - 256Mi.
    expect(memory(result).reservedOverhead!.addedOverhead).toBe('1768Mi');
  });

  it('takes guest memory from resources.requests.memory when memory.guest is absent (4Gi: maxGuest 16Gi)', () => {
    const { result } = mutate(vmWith({ multus: { a: 'ovs-vduse-a', b: 'ovs-vduse-b' }, memory: null, requestsMemory: '4Gi', annotations: keep }), { namespaceLabels: POLICY_ENABLED });
    expect(memory(result).reservedOverhead!.addedOverhead).toBe('17Gi');
  });

  it('warns what memory hotplug costs with two interfaces or more, and what turning it off would reserve', () => {
    const { decision } = mutate(vmWith({ multus: { a: 'ovs-vduse-a', b: 'ovs-vduse-b' }, memory: { guest: '4Gi' }, annotations: keep }), { namespaceLabels: POLICY_ENABLED });
    expect(decision.warnings).toContain('vduse: memory hotplug to 16Gi adds 17Gi of memlock overhead; maxGuest: 4Gi (no hotplug) adds 5Gi');
    const single = mutate(vmWith({ multus: { a: 'ovs-vduse-a' }, memory: { guest: '4Gi' } }), { namespaceLabels: POLICY_ENABLED }).decision;
    expect(single.warnings.join('\n')).not.toContain('memory hotplug');
  });

  it('warns that a hugepages guest still has its overhead in ordinary memory, and how much', () => {
    const { decision } = mutate(vmWith({ multus: { a: 'ovs-vduse-a' }, memory: { guest: '4Gi', hugepages: { pageSize: '1Gi' } } }), { namespaceLabels: POLICY_ENABLED });
    expect(decision.warnings).toContain('vduse: 1Gi of ordinary memory reserved for locked memory: KubeVirt counts addedOverhead outside hugepages');
  });

  it("keeps the user's own overhead and adjusts, never adds twice, when the interface count changes", () => {
    const vm = vmWith({ multus: { a: 'ovs-vduse-a' }, memory: { guest: '2Gi', reservedOverhead: { addedOverhead: '512Mi' } } });
    const first = mutate(vm, { namespaceLabels: POLICY_ENABLED }).result;
    expect(memory(first).reservedOverhead!.addedOverhead).toBe('1536Mi');
    expect(decideFor(first, { namespaceLabels: POLICY_ENABLED, operation: 'UPDATE' }).patch).toEqual([]);

    // The user adds a second VDUSE network: memory hotplug goes off (maxGuest 2Gi), and
    // 512Mi + 2 x 2Gi + 1Gi - 2Gi.
    const edited = structuredClone(first);
    template(edited).spec!.domain.devices.interfaces!.push({ name: 'b', bridge: {} });
    template(edited).spec!.networks!.push({ name: 'b', multus: { networkName: 'ovs-vduse-b' } });
    const second = mutate(edited, { namespaceLabels: POLICY_ENABLED, operation: 'UPDATE' }).result;
    expect(memory(second)).toMatchObject({ maxGuest: '2Gi', reservedOverhead: { addedOverhead: '3584Mi' } });
    expect(memlock(second)).toBe('3Gi');
  });

  it('sets memLock but warns, naming the field, when guest memory comes from an instancetype', () => {
    const { decision, result } = mutate(vmWith({ multus: { a: 'ovs-vduse-a' }, memory: null }), { namespaceLabels: POLICY_ENABLED });
    expect(memory(result)).toEqual({ reservedOverhead: { memLock: 'Required' } });
    expect(decision.warnings).toContain('vduse: set spec.template.spec.domain.memory.guest: without it the memlock overhead for vDPA cannot be sized');
  });

  it('denies an unreadable guest memory quantity, naming the field', () => {
    const decision = decideFor(vmWith({ multus: { a: 'ovs-vduse-a' }, memory: { guest: 'lots' } }), { namespaceLabels: POLICY_ENABLED });
    expect(decision.allowed).toBe(false);
    expect(decision.reason).toContain('spec.template.spec.domain.memory.guest: got "lots"; expected a Kubernetes quantity');
  });
});

describe('the patch', () => {
  it('touches only the chosen interfaces, the template annotations and domain.memory', () => {
    const { decision } = mutate(vmWith({ multus: { dataplane: 'ovs-vduse-a', storage: 'sriov-net' } }), { namespaceLabels: POLICY_ENABLED });
    const allowed = [`${TEMPLATE}/spec/domain/devices/interfaces/1`, `${TEMPLATE}/metadata/annotations`, `${TEMPLATE}/spec/domain/memory`];
    for (const operation of decision.patch) expect(allowed.some((prefix) => operation.path === prefix || operation.path.startsWith(`${prefix}/`)), operation.path).toBe(true);
  });

  it('creates template metadata when the template has none', () => {
    const vm = vmWith({ multus: { dataplane: 'ovs-vduse-a' } });
    delete vm.spec.template.metadata;
    const { result } = mutate(vm, { namespaceLabels: POLICY_ENABLED });
    expect(template(result).metadata!.annotations!['vduse.kubevirt.io/rx-queue-size']).toBe('1024');
  });

  it("on KubeVirt's round-trip VM, never touches status or managedFields and adds no schema error", () => {
    const vm = roundTripVm();
    const templateSpec = vm.spec.template.spec as unknown as VirtualMachine['spec']['template']['spec'] & object;
    templateSpec.domain.devices.interfaces![0]!.model = 'virtio';
    const { decision, result } = mutate(vm, { namespaceLabels: POLICY_ENABLED, namespaceAnnotations: { 'vduse.kubevirt.io/networks': 'nameValue' } });
    expect(decision.outcome).toBe('mutated');
    expect(decision.patch.map((operation) => operation.path).filter((path) => path.startsWith('/status') || path.includes('managedFields'))).toEqual([]);
    expect((result as unknown as { status: unknown }).status).toEqual(vm.status);
    const before = new Set(schemaErrors('v1.VirtualMachine', vm));
    expect(schemaErrors('v1.VirtualMachine', result).filter((error) => !before.has(error))).toEqual([]);
  });

  it("denies KubeVirt's round-trip VM as it is, because its model is not virtio", () => {
    const decision = decideFor(roundTripVm(), { namespaceLabels: POLICY_ENABLED, namespaceAnnotations: { 'vduse.kubevirt.io/networks': 'nameValue' } });
    expect(decision.allowed).toBe(false);
    expect(decision.reason).toContain('has model "modelValue"');
  });

  it('validates against KubeVirt\'s schema, with nothing invented, for a plain VM', () => {
    const vm = vmWith({ multus: { a: 'ovs-vduse-a', b: 'ovs-vduse-b' }, interfaceFields: { a: { macAddress: '02:00:00:00:00:10' } } });
    expect(schemaErrors('v1.VirtualMachine', vm)).toEqual([]);
    const { result } = mutate(vm, { namespaceLabels: POLICY_ENABLED });
    expect(schemaErrors('v1.VirtualMachine', result)).toEqual([]);
  });

  it('is a no-op the second time', () => {
    const { result } = mutate(vmWith({ multus: { a: 'ovs-vduse-a' }, annotations: { 'vduse.kubevirt.io/coalesce': 'rx-usecs=64,adaptive-rx' } }), { namespaceLabels: POLICY_ENABLED });
    expect(decideFor(result, { namespaceLabels: POLICY_ENABLED, operation: 'UPDATE' })).toMatchObject({ outcome: 'unchanged', patch: [] });
  });
});

describe('bare VirtualMachineInstances', () => {
  const bareVmi = () => {
    const vm = vmWith({ multus: { dataplane: 'ovs-vduse-a' } });
    return { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata: { name: 'bare', namespace: NAMESPACE, labels: { 'vduse.kubevirt.io/enabled': 'true' } }, spec: vm.spec.template.spec };
  };

  it('are mutated on themselves', () => {
    const decision = decideFor(bareVmi(), { kind: 'VirtualMachineInstance' });
    expect(decision.outcome).toBe('mutated');
    expect(decision.patch.map((operation) => operation.path.split('/').slice(0, 3).join('/'))).toEqual(
      expect.arrayContaining(['/metadata/annotations', '/spec/domain']),
    );
    const result = applyIndependently(bareVmi(), decision.patch);
    expect(schemaErrors('v1.VirtualMachineInstance', result)).toEqual([]);
  });

  it('are left to their VirtualMachine when one owns them', () => {
    const owned = bareVmi();
    (owned.metadata as Record<string, unknown>).ownerReferences = [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: 'vm', uid: 'u', controller: true }];
    expect(decideFor(owned, { kind: 'VirtualMachineInstance' }).outcome).toBe('skipped');
  });
});

describe('objects that are not what they say', () => {
  it.each([
    ['another kind in the object', { ...vmWith(), kind: 'VirtualMachineInstance' }, 'apiVersion/kind: got "kubevirt.io/v1/VirtualMachineInstance"'],
    ['another apiVersion', { ...vmWith(), apiVersion: 'kubevirt.io/v1alpha3' }, 'expected kubevirt.io/v1/VirtualMachine'],
    ['no template', { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name: 'x' }, spec: {} }, 'spec.template: missing'],
    ['annotations that are not strings', { ...vmWith(), metadata: { name: 'x', annotations: { a: 1 } } }, 'metadata.annotations'],
  ])('denies %s with the field named', (_title, object, message) => {
    const decision = decideFor(object, { namespaceLabels: POLICY_ENABLED });
    expect(decision.allowed).toBe(false);
    expect(decision.reason).toContain(message);
  });
});

describe('what the cluster sends, decided the same offline', () => {
  it('skips an UPDATE of a bare VMI saying why, not as if a VM owned it', () => {
    const vm = vmWith({ multus: { dataplane: 'ovs-vduse-a' } });
    const bare = { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata: { name: 'bare', namespace: NAMESPACE }, spec: vm.spec.template.spec };
    const decision = decideFor(bare, { namespaceLabels: POLICY_ENABLED, kind: 'VirtualMachineInstance', operation: 'UPDATE' });
    expect(decision).toMatchObject({ allowed: true, outcome: 'skipped' });
    expect(decision.reason).toBe('an UPDATE of a VirtualMachineInstance that no VirtualMachine owns: its spec is fixed once created, so VDUSE is decided only at CREATE');
  });

  it("reads opt-in and opt-out labels from the VM's own metadata only, as the opt-in webhook's objectSelector does", () => {
    const vm = vmWith({ multus: { dataplane: 'ovs-vduse-a' } });
    vm.spec.template.metadata = { ...vm.spec.template.metadata, labels: { 'vduse.kubevirt.io/enabled': 'true' } };
    expect(decideFor(vm).outcome).toBe('skipped');
    const optOutOnTemplate = vmWith({ multus: { dataplane: 'ovs-vduse-a' } });
    optOutOnTemplate.spec.template.metadata = { ...optOutOnTemplate.spec.template.metadata, labels: { 'vduse.kubevirt.io/enabled': 'false' } };
    expect(decideFor(optOutOnTemplate, { namespaceLabels: POLICY_ENABLED }).outcome).toBe('mutated');
  });
});

describe('lifecycle: what the webhook wrote is re-resolved, and removed with the last VDUSE interface', () => {
  const annotations = (vm: VirtualMachine) => template(vm).metadata!.annotations!;

  it('a Namespace tuning change reaches an existing VM; values the user wrote stay', () => {
    const vm = vmWith({ multus: { dataplane: 'ovs-vduse-a' }, templateAnnotations: { 'vduse.kubevirt.io/tx-queue-size': '256' } });
    const { result } = mutate(vm, { namespaceLabels: POLICY_ENABLED, namespaceAnnotations: { 'vduse.kubevirt.io/rx-queue-size': '512', 'vduse.kubevirt.io/tx-queue-size': '512' } });
    expect(annotations(result)).toMatchObject({ 'vduse.kubevirt.io/rx-queue-size': '512', 'vduse.kubevirt.io/tx-queue-size': '256' });
    const { result: later } = mutate(result, { namespaceLabels: POLICY_ENABLED, operation: 'UPDATE', namespaceAnnotations: { 'vduse.kubevirt.io/rx-queue-size': '1024' } });
    expect(annotations(later)).toMatchObject({ 'vduse.kubevirt.io/rx-queue-size': '1024', 'vduse.kubevirt.io/tx-queue-size': '256' });
    // And a second pass with nothing changed changes nothing.
    expect(decideFor(later, { namespaceLabels: POLICY_ENABLED, operation: 'UPDATE', namespaceAnnotations: { 'vduse.kubevirt.io/rx-queue-size': '1024' } }).patch).toEqual([]);
  });

  it("removing the last VDUSE interface removes the webhook's overhead, memLock and annotations, and keeps the user's", () => {
    const vm = vmWith({
      multus: { dataplane: 'ovs-vduse-a' },
      memory: { guest: '2Gi', reservedOverhead: { addedOverhead: '256Mi' } },
      templateAnnotations: { 'example.com/keep': 'me', 'vduse.kubevirt.io/queues': '2' },
    });
    const { result } = mutate(vm, { namespaceLabels: POLICY_ENABLED });
    expect(template(result).spec!.domain.memory!.reservedOverhead).toEqual({ memLock: 'Required', addedOverhead: '1280Mi' });
    // The user takes the interface off the VDUSE network.
    const spec = template(result).spec!;
    spec.domain.devices.interfaces = spec.domain.devices.interfaces!.filter((i) => i.name !== 'dataplane');
    spec.networks = spec.networks!.filter((n) => n.name !== 'dataplane');
    const { result: after, decision } = mutate(result, { namespaceLabels: POLICY_ENABLED, operation: 'UPDATE' });
    expect(decision.reason).toContain('removed the webhook');
    expect(template(after).spec!.domain.memory).toEqual({ guest: '2Gi', reservedOverhead: { addedOverhead: '256Mi' } });
    expect(annotations(after)).toEqual({ 'example.com/keep': 'me', 'vduse.kubevirt.io/queues': '2' });
    expect(schemaErrors('v1.VirtualMachine', after)).toEqual([]);
    expect(decideFor(after, { namespaceLabels: POLICY_ENABLED, operation: 'UPDATE' }).patch).toEqual([]);
  });

  it("keeps a memLock: Required the user set, and everything while an interface is still bound by hand", () => {
    const vm = vmWith({ multus: { dataplane: 'ovs-vduse-a' }, memory: { guest: '1Gi', reservedOverhead: { memLock: 'Required' } } });
    const { result } = mutate(vm, { namespaceLabels: POLICY_ENABLED });
    expect(decideFor(result, { operation: 'UPDATE' }).outcome).toBe('skipped');
    const spec = template(result).spec!;
    spec.domain.devices.interfaces = spec.domain.devices.interfaces!.filter((i) => i.name !== 'dataplane');
    spec.networks = spec.networks!.filter((n) => n.name !== 'dataplane');
    const { result: after } = mutate(result, { operation: 'UPDATE' });
    expect(template(after).spec!.domain.memory).toEqual({ guest: '1Gi', reservedOverhead: { memLock: 'Required' } });
  });
});

/** common-instancetypes' u1.medium and fedora, as the cluster serves them (instancetype.kubevirt.io/v1beta1). */
const U1_MEDIUM = { apiVersion: 'instancetype.kubevirt.io/v1beta1', kind: 'VirtualMachineClusterInstancetype', metadata: { name: 'u1.medium' }, spec: { cpu: { guest: 1 }, memory: { guest: '4Gi' } } };
const FEDORA = { apiVersion: 'instancetype.kubevirt.io/v1beta1', kind: 'VirtualMachineClusterPreference', metadata: { name: 'fedora' }, spec: { devices: { preferredDiskBus: 'virtio', preferredInterfaceModel: 'virtio' } } };

describe('a VDUSE primary network: the pod network KubeVirt defaults, on the vduse binding', () => {
  const podNetworkVduse = { 'vduse.kubevirt.io/pod-network': 'vduse' };

  it.each([
    ['the Namespace declares its pod network VDUSE-backed', { namespaceAnnotations: podNetworkVduse }],
    ['the Namespace names "default" in its networks', { namespaceAnnotations: { 'vduse.kubevirt.io/networks': 'default' } }],
    ['the cluster config says the pod network is VDUSE', { config: { podNetwork: 'vduse' as const } }],
  ])('a virtctl VM with no networks gets KubeVirt\'s default pod network on vduse when %s', (_title, scenario) => {
    const vm = virtctlVm({ instancetype: 'u1.medium', preference: 'fedora' });
    const { result, decision } = mutate(vm, { namespaceLabels: POLICY_ENABLED, instancetype: U1_MEDIUM, preference: FEDORA, ...scenario });
    expect(template(result).spec!.networks).toEqual([{ name: 'default', pod: {} }]);
    expect(template(result).spec!.domain.devices.interfaces).toEqual([{ name: 'default', model: 'virtio', binding: { name: 'vduse' } }]);
    expect(decision.warnings).toContain('vduse: added the pod network "default", as KubeVirt would, on binding vduse');
    expect(schemaErrors('v1.VirtualMachine', result)).toEqual([]);
    expect(decideFor(result, { namespaceLabels: POLICY_ENABLED, operation: 'UPDATE', instancetype: U1_MEDIUM, preference: FEDORA, ...scenario }).patch).toEqual([]);
  });

  it('honours autoattachPodInterface: false, and a preference that says so', () => {
    const vm = virtctlVm();
    vm.spec.template.spec!.domain.devices.autoattachPodInterface = false;
    expect(decideFor(vm, { namespaceLabels: POLICY_ENABLED, namespaceAnnotations: podNetworkVduse }).outcome).toBe('skipped');
    const withPreference = virtctlVm({ preference: 'no-pod-net' });
    expect(decideFor(withPreference, { namespaceLabels: POLICY_ENABLED, namespaceAnnotations: podNetworkVduse, preferredAutoattachPodInterface: false }).outcome).toBe('skipped');
    expect(decideFor(withPreference, { namespaceLabels: POLICY_ENABLED, namespaceAnnotations: podNetworkVduse, preferredAutoattachPodInterface: true }).outcome).toBe('mutated');
  });

  it('converts a written pod network where the Namespace declares it VDUSE-backed', () => {
    const { result } = mutate(vmWith({ multus: { storage: 'sriov-net' } }), { namespaceLabels: POLICY_ENABLED, namespaceAnnotations: podNetworkVduse });
    expect(iface(result, 'default')).toEqual({ name: 'default', model: 'virtio', binding: { name: 'vduse' } });
    expect(iface(result, 'storage')).toEqual({ name: 'storage', bridge: {} });
  });

  it("ignores the Namespace's networks that a VM lacks, but denies the VM's own", () => {
    const byNamespace = decideFor(vmWith({ multus: { dataplane: 'ovs-vduse-a' } }), { namespaceLabels: POLICY_ENABLED, namespaceAnnotations: { 'vduse.kubevirt.io/networks': 'dataplane,backhaul' } });
    expect(byNamespace).toMatchObject({ allowed: true, interfaces: ['dataplane'] });
    const byVm = decideFor(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, annotations: { 'vduse.kubevirt.io/networks': 'backhaul' } }), { namespaceLabels: POLICY_ENABLED });
    expect(byVm.allowed).toBe(false);
    expect(byVm.reason).toContain('names "backhaul", which spec.template.spec.networks does not have');
  });

  it('denies a bad pod-network value on the Namespace, naming it', () => {
    const decision = decideFor(virtctlVm(), { namespaceLabels: POLICY_ENABLED, namespaceAnnotations: { 'vduse.kubevirt.io/pod-network': 'yes' } });
    expect(decision.reason).toBe('Namespace telco: annotation vduse.kubevirt.io/pod-network: got "yes"; expected one of vduse, default (ask the namespace\'s administrator)');
  });
});

describe('memory hotplug policy', () => {
  // Two VDUSE interfaces on a 4Gi guest: virt-api's maxGuest of 16Gi would make libvirt ask for
  // 2 x 16Gi + 1Gi; "auto" sets maxGuest to the guest memory instead (webhook/memory-hotplug.ts).
  const two = (shape: Parameters<typeof vmWith>[0] = {}) => vmWith({ multus: { a: 'ovs-vduse-a', b: 'ovs-vduse-b' }, memory: { guest: '4Gi' }, ...shape });
  const memoryOf = (vm: VirtualMachine) => template(vm).spec!.domain.memory!;
  const recorded = (vm: VirtualMachine) => template(vm).metadata?.annotations?.['vduse.kubevirt.io/max-guest'];
  const enabled = { namespaceLabels: POLICY_ENABLED };
  const update = { ...enabled, operation: 'UPDATE' as const };

  it('auto, two interfaces: maxGuest is the guest memory, recorded as the webhook\'s, with both overheads in the warning', () => {
    const { result, decision } = mutate(two(), enabled);
    expect(memoryOf(result)).toMatchObject({ guest: '4Gi', maxGuest: '4Gi', reservedOverhead: { addedOverhead: '5Gi' } });
    expect(recorded(result)).toBe('4Gi');
    expect(decision.warnings).toContain('vduse: maxGuest set to 4Gi (no memory hotplug): memlock overhead 5Gi instead of 17Gi for 2 VDUSE interfaces');
    expect(decision.warnings.join('\n')).not.toContain('memory hotplug to');
    expect(schemaErrors('v1.VirtualMachine', result)).toEqual([]);
    // Admitted again unchanged: nothing to patch, nothing to say about maxGuest.
    const again = decideFor(result, update);
    expect(again.patch).toEqual([]);
    expect(again.warnings.join('\n')).not.toContain('maxGuest');
  });

  it('follows the guest memory when the user changes it, and hands maxGuest back when the VM has one VDUSE interface left', () => {
    const first = mutate(two(), enabled).result;
    const bigger = structuredClone(first);
    memoryOf(bigger).guest = '8Gi';
    const grown = mutate(bigger, update);
    expect(memoryOf(grown.result)).toMatchObject({ maxGuest: '8Gi', reservedOverhead: { addedOverhead: '9Gi' } });
    expect(grown.decision.warnings).toContain('vduse: maxGuest set to 8Gi (no memory hotplug): memlock overhead 9Gi instead of 33Gi for 2 VDUSE interfaces');

    const single = structuredClone(first);
    template(single).spec!.domain.devices.interfaces = template(single).spec!.domain.devices.interfaces!.filter((i) => i.name !== 'b');
    template(single).spec!.networks = template(single).spec!.networks!.filter((n) => n.name !== 'b');
    const one = mutate(single, update).result;
    // virt-api gives it its 16Gi maxGuest again; one interface costs 1Gi with or without hotplug.
    expect(memoryOf(one).maxGuest).toBeUndefined();
    expect(recorded(one)).toBeUndefined();
    expect(memoryOf(one).reservedOverhead!.addedOverhead).toBe('1Gi');
  });

  it("keeps a maxGuest the user wrote, first or over the webhook's, and records none", () => {
    const own = mutate(two({ memory: { guest: '4Gi', maxGuest: '8Gi' } }), enabled).result;
    expect(memoryOf(own).maxGuest).toBe('8Gi');
    expect(recorded(own)).toBeUndefined();
    // 2 x 8Gi + 1Gi over KubeVirt's base of 8Gi.
    expect(memoryOf(own).reservedOverhead!.addedOverhead).toBe('9Gi');

    const edited = structuredClone(mutate(two(), enabled).result);
    memoryOf(edited).maxGuest = '6Gi';
    const theirs = mutate(edited, update).result;
    expect(memoryOf(theirs).maxGuest).toBe('6Gi');
    expect(recorded(theirs)).toBeUndefined();
  });

  it('keep, from the VM, its Namespace or the webhook config: KubeVirt\'s hotplug stays, and the webhook\'s maxGuest goes', () => {
    const keep = { 'vduse.kubevirt.io/memory-hotplug': 'keep' };
    for (const scenario of [{}, { namespaceAnnotations: keep }, { config: { defaultTuning: { memoryHotplug: 'keep' as const } } }]) {
      const vm = Object.keys(scenario).length === 0 ? two({ annotations: keep }) : two();
      const { result } = mutate(vm, { ...enabled, ...scenario });
      expect(memoryOf(result).maxGuest).toBeUndefined();
      expect(memoryOf(result).reservedOverhead!.addedOverhead).toBe('17Gi');
    }
    const ours = mutate(two(), enabled).result;
    ours.metadata!.annotations = keep;
    const kept = mutate(ours, update).result;
    expect(memoryOf(kept).maxGuest).toBeUndefined();
    expect(recorded(kept)).toBeUndefined();
  });

  it('leaves alone a VM whose hotplug KubeVirt would not enable (guest under 1Gi) or whose instancetype gives maxGuest', () => {
    const small = mutate(two({ memory: { guest: '512Mi' } }), enabled).result;
    expect(memoryOf(small).maxGuest).toBeUndefined();
    expect(recorded(small)).toBeUndefined();

    const vm = two({ memory: null, labels: { 'vduse.kubevirt.io/enabled': 'true' } });
    (vm.spec as unknown as Record<string, unknown>).instancetype = { kind: 'VirtualMachineClusterInstancetype', name: 'u1.medium' };
    const withMaxGuest = { ...U1_MEDIUM, spec: { ...U1_MEDIUM.spec, memory: { guest: '4Gi', maxGuest: '8Gi' } } };
    const fromInstancetype = mutate(vm, { instancetype: withMaxGuest }).result;
    expect(memoryOf(fromInstancetype).maxGuest).toBeUndefined();
    // 2 x 8Gi + 1Gi over a base of 8Gi.
    expect(memoryOf(fromInstancetype).reservedOverhead!.addedOverhead).toBe('9Gi');
  });

  it('takes its maxGuest away with everything else once the VM opts out and leaves the binding', () => {
    const ours = mutate(two(), enabled).result;
    ours.metadata!.labels = { ...ours.metadata!.labels, 'vduse.kubevirt.io/enabled': 'false' };
    template(ours).spec!.domain.devices.interfaces = [{ name: 'default', masquerade: {} }, { name: 'a', bridge: {} }, { name: 'b', bridge: {} }];
    const { result } = mutate(ours, update);
    expect(memoryOf(result)).toEqual({ guest: '4Gi' });
    expect(template(result).metadata?.annotations ?? {}).not.toHaveProperty('vduse.kubevirt.io/max-guest');
  });

  it('denies an invalid policy, naming the annotation, the value and both policies', () => {
    const decision = decideFor(two({ annotations: { 'vduse.kubevirt.io/memory-hotplug': 'off' } }), enabled);
    expect(decision.allowed).toBe(false);
    expect(decision.reason).toBe(
      'VirtualMachine telco/vm-cirros: annotation vduse.kubevirt.io/memory-hotplug: got "off"; expected "auto" (no memory hotplug for a VM with two or more VDUSE interfaces, unless it sets maxGuest) or "keep"',
    );
  });
});

describe('instancetypes and preferences', () => {
  const optedIn = (shape: Parameters<typeof virtctlVm>[0]) => {
    const vm = virtctlVm(shape);
    vm.metadata!.labels = { 'vduse.kubevirt.io/enabled': 'true' };
    return vm;
  };
  const scenario = { namespaceAnnotations: { 'vduse.kubevirt.io/pod-network': 'vduse' } };

  it("sizes the memlock overhead from the instancetype's guest memory, and never advises memory.guest", () => {
    const { result, decision } = mutate(optedIn({ instancetype: 'u1.medium' }), { ...scenario, instancetype: U1_MEDIUM });
    // One interface: 1 GiB on top of what KubeVirt counts for the 4Gi guest.
    expect(template(result).spec!.domain.memory).toEqual({ reservedOverhead: { memLock: 'Required', addedOverhead: '1Gi' } });
    expect(template(result).spec!.domain.memory!.guest).toBeUndefined();
    expect(decision.warnings.join('\n')).not.toContain('memory.guest');
    expect(schemaErrors('v1.VirtualMachine', result)).toEqual([]);
  });

  it('reads the instancetype from the ControllerRevision that revisionName names', () => {
    const vm = optedIn({ instancetype: 'u1.medium' });
    (vm.spec as unknown as Record<string, unknown>).instancetype = { kind: 'VirtualMachineClusterInstancetype', name: 'u1.medium', revisionName: 'vm-virtctl-u1.medium-1' };
    vm.spec.template.spec!.networks = [{ name: 'default', pod: {} }, { name: 'a', multus: { networkName: 'ovs-vduse-a' } }];
    vm.spec.template.spec!.domain.devices.interfaces = [{ name: 'default', masquerade: {} }, { name: 'a', bridge: {} }];
    const revision = { apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: { name: 'vm-virtctl-u1.medium-1', namespace: NAMESPACE }, data: { ...U1_MEDIUM, spec: { ...U1_MEDIUM.spec, memory: { guest: '8Gi' } } }, revision: 1 };
    const { result } = mutate(vm, { ...scenario, instancetype: revision });
    // Two interfaces (the pod network and a), guest 8Gi from the revision: memory hotplug off
    // (maxGuest 8Gi), 2 x 8Gi + 1Gi - 8Gi.
    expect(template(result).spec!.domain.memory).toMatchObject({ maxGuest: '8Gi', reservedOverhead: { addedOverhead: '9Gi' } });
  });

  it('denies a VM whose instancetype or preference does not exist, naming it and the fix', () => {
    const missing = decideFor(optedIn({ instancetype: 'u1.huge' }), { ...scenario, instancetype: null });
    expect(missing.allowed).toBe(false);
    expect(missing.reason).toBe('VirtualMachine telco/vm-virtctl: spec.instancetype names VirtualMachineClusterInstancetype "u1.huge", which does not exist; create it, or fix spec.instancetype');
    const noPreference = decideFor(optedIn({ preference: 'plan9' }), { ...scenario, preference: null });
    expect(noPreference.reason).toContain('spec.preference names VirtualMachineClusterPreference "plan9", which does not exist');
  });

  it('denies an instancetype that cannot be read, or warns and leaves the overhead unsized when the config says allow', () => {
    const denied = decideFor(optedIn({ instancetype: 'u1.medium' }), { ...scenario, instancetype: { unreadable: 'HTTP 403' } });
    expect(denied.reason).toContain('cannot read VirtualMachineClusterInstancetype "u1.medium" from spec.instancetype (HTTP 403)');
    const allowed = decideFor(optedIn({ instancetype: 'u1.medium' }), { ...scenario, instancetype: { unreadable: 'HTTP 403' }, config: { onLookupFailure: 'allow' } });
    expect(allowed.allowed).toBe(true);
    expect(allowed.warnings).toContain('vduse: memlock overhead not sized: VirtualMachineClusterInstancetype "u1.medium" could not be read');
    expect(allowed.warnings.join('\n')).not.toContain('memory.guest');
  });

  it('writes model virtio, so that a preference for e1000e cannot change a converted interface', () => {
    const { result } = mutate(optedIn({ instancetype: 'u1.medium', preference: 'windows' }), { ...scenario, instancetype: U1_MEDIUM, preference: { spec: { devices: { preferredInterfaceModel: 'e1000e' } } } });
    expect(iface(result, 'default').model).toBe('virtio');
  });

  it('denies a matcher kind KubeVirt does not know', () => {
    const vm = optedIn({});
    (vm.spec as unknown as Record<string, unknown>).instancetype = { kind: 'Flavor', name: 'x' };
    expect(decideFor(vm, scenario).reason).toBe('VirtualMachine telco/vm-virtctl: spec.instancetype.kind: got "Flavor"; expected VirtualMachineInstancetype or VirtualMachineClusterInstancetype');
  });
});

describe('cluster readiness, from the KubeVirt CR', () => {
  const vm = () => vmWith({ multus: { dataplane: 'ovs-vduse-a' } });
  const cr = kubevirtWith;
  const reason = (object: VirtualMachine, kubevirt: object, scenario: Scenario = {}) => {
    const decision = decideFor(object, { namespaceLabels: POLICY_ENABLED, kubevirt, ...scenario });
    expect(decision.allowed).toBe(false);
    return decision.reason;
  };

  it('admits a VM when KubeVirt has both bindings, the gate and the sidecar memory', () => {
    expect(decideFor(vm(), { namespaceLabels: POLICY_ENABLED, kubevirt: READY_KUBEVIRT }).outcome).toBe('mutated');
  });

  it('denies when the binding the VM gets is not registered, or not with device-info, naming the fix', () => {
    expect(reason(vm(), cr((c) => delete c.network.binding.vduse))).toBe(
      'VirtualMachine telco/vm-cirros cannot run on VDUSE here yet: KubeVirt kubevirt/kubevirt has no network binding "vduse" (spec.configuration.network.binding); register it with deploy/kubevirt/register-vduse.jq',
    );
    const coalesced = vmWith({ multus: { dataplane: 'ovs-vduse-a' }, annotations: { 'vduse.kubevirt.io/coalesce': 'adaptive-rx' } });
    expect(reason(coalesced, cr((c) => delete c.network.binding['vduse-cloudinit']))).toContain('has no network binding "vduse-cloudinit"');
    expect(reason(vm(), cr((c) => delete c.network.binding.vduse!.downwardAPI))).toContain('binding "vduse" has downwardAPI null, not "device-info"');
    // Where HCO writes the KubeVirt CR (its label; or its ownerReference), the fix goes into the HyperConverged CR.
    const byHco = cr((c) => delete c.network.binding.vduse);
    const owned = { ...byHco, metadata: { ...byHco.metadata, ownerReferences: [{ apiVersion: 'hco.kubevirt.io/v1', kind: 'HyperConverged', name: 'kubevirt-hyperconverged', uid: 'u', controller: true }] } };
    expect(reason(vm(), owned)).toContain('register it with deploy/kubevirt/hco/networkbinding.jq on the HyperConverged CR, which writes this KubeVirt CR and undoes edits to it');
  });

  it('denies without the ReservedOverheadMemlock feature gate, instead of leaving virt-api to deny a field the user never wrote', () => {
    expect(reason(vm(), cr((c) => (c.developerConfiguration.featureGates = ['Snapshot'])))).toContain('lacks the ReservedOverheadMemlock feature gate, which reservedOverhead.memLock needs');
  });

  it("denies a VM with dedicated CPUs, Guaranteed QoS or a dedicated instancetype while KubeVirt's sidecar limit is below the sidecar's need", () => {
    const small = cr((c) => delete c.supportContainerResources);
    const dedicated = vm();
    dedicated.spec.template.spec!.domain.cpu = { cores: 2, dedicatedCpuPlacement: true };
    expect(reason(dedicated, small)).toContain('limits the sidecars of VMs with dedicated CPUs or Guaranteed QoS to 64M (its default), and the vduse sidecar needs 80M; set supportContainerResources type sidecar limits.memory to 128M');
    const guaranteed = vm();
    guaranteed.spec.template.spec!.domain.resources = { requests: { cpu: '2', memory: '2Gi' }, limits: { cpu: '2000m', memory: '2Gi' } };
    expect(reason(guaranteed, cr((c) => (c.supportContainerResources = [{ type: 'sidecar', resources: { limits: { memory: '72M' } } }])))).toContain('to 72M, and the vduse sidecar needs 80M');
    const viaInstancetype = virtctlVm({ instancetype: 'cx1.large' });
    viaInstancetype.metadata!.labels = { 'vduse.kubevirt.io/enabled': 'true' };
    const cx1 = { spec: { cpu: { guest: 2, dedicatedCPUPlacement: true }, memory: { guest: '4Gi' } } };
    expect(reason(viaInstancetype, small, { namespaceAnnotations: { 'vduse.kubevirt.io/pod-network': 'vduse' }, instancetype: cx1 })).toContain('dedicated CPUs or Guaranteed QoS');
    // Limits alone: virt-api copies limits.cpu into requests.cpu (pkg/defaults), so the VMI is Guaranteed.
    const limitsOnly = vm();
    limitsOnly.spec.template.spec!.domain.resources = { limits: { cpu: '2', memory: '2Gi' } };
    expect(reason(limitsOnly, small)).toContain('limits the sidecars of VMs with dedicated CPUs or Guaranteed QoS to 64M');
    const burstable = vm();
    burstable.spec.template.spec!.domain.resources = { requests: { cpu: '1' }, limits: { cpu: '2', memory: '2Gi' } };
    expect(decideFor(burstable, { namespaceLabels: POLICY_ENABLED, kubevirt: small }).allowed).toBe(true);
    // Neither dedicated nor Guaranteed: KubeVirt sets no sidecar limit, so 64M does not matter.
    expect(decideFor(vm(), { namespaceLabels: POLICY_ENABLED, kubevirt: small }).allowed).toBe(true);
    expect(decideFor(dedicated, { namespaceLabels: POLICY_ENABLED, kubevirt: READY_KUBEVIRT }).allowed).toBe(true);
  });

  it('warns that migration may fail when the VM uses a second binding plugin with a sidecar, and not for one without', () => {
    const twoPlugins = vmWith({ multus: { dataplane: 'ovs-vduse-a', storage: 'sriov-net' } });
    twoPlugins.spec.template.spec!.domain.devices.interfaces![2] = { name: 'storage', binding: { name: 'passt' } };
    const withPasst = (sidecarImage?: string) => cr((c) => (c.network.binding.passt = { ...(sidecarImage ? { sidecarImage } : {}), migration: {} }));
    const decision = decideFor(twoPlugins, { namespaceLabels: POLICY_ENABLED, kubevirt: withPasst('passt-binding:1.7') });
    expect(decision.outcome).toBe('mutated');
    expect(decision.warnings).toContain('vduse: live migration may fail: 2 binding plugins with sidecars (vduse, passt); see docs/migration.md');
    expect(decideFor(twoPlugins, { namespaceLabels: POLICY_ENABLED, kubevirt: withPasst() }).warnings.join('\n')).not.toContain('live migration may fail');
  });

  it('warns, and admits, when the KubeVirt CR cannot be read or is not there', () => {
    for (const kubevirt of [{ unreadable: 'HTTP 403' }, null]) {
      const decision = decideFor(vm(), { namespaceLabels: POLICY_ENABLED, kubevirt });
      expect(decision.outcome).toBe('mutated');
      expect(decision.warnings.join('\n')).toMatch(/vduse: KubeVirt CR (unreadable \(HTTP 403\)|not found): binding, feature gate and sidecar memory unchecked/);
    }
  });
});

describe('no mistake is silent', () => {
  const dataplane = { multus: { dataplane: 'ovs-vduse-a' } };

  it.each([
    ['a misspelt annotation on the VM', { annotations: { 'vduse.kubevirt.io/rx-queue-sizes': '512' } }, {}, 'vduse: unknown annotation vduse.kubevirt.io/rx-queue-sizes; did you mean rx-queue-size?'],
    ['another spelling of it', { annotations: { 'vduse.kubevirt.io/rxqueue-size': '512' } }, {}, 'vduse: unknown annotation vduse.kubevirt.io/rxqueue-size; did you mean rx-queue-size?'],
    ['a misspelt annotation on the template', { templateAnnotations: { 'vduse.kubevirt.io/coalesse': 'adaptive-rx' } }, {}, 'vduse: unknown template annotation vduse.kubevirt.io/coalesse; did you mean coalesce?'],
    ['a misspelt Namespace annotation', {}, { namespaceAnnotations: { 'vduse.kubevirt.io/pod-networks': 'vduse' } }, 'vduse: unknown Namespace annotation vduse.kubevirt.io/pod-networks; did you mean pod-network?'],
    ['the opt-in label written as an annotation', { annotations: { 'vduse.kubevirt.io/enabled': 'false' } }, {}, 'vduse: annotation vduse.kubevirt.io/enabled is ignored: it is read as a label of the VM itself'],
    ['the opt-out label on the template', { templateLabels: { 'vduse.kubevirt.io/enabled': 'false' } }, {}, 'vduse: template label vduse.kubevirt.io/enabled is ignored: it is read as a label of the VM itself'],
    ['the pod-network annotation on a VM', { annotations: { 'vduse.kubevirt.io/pod-network': 'vduse' } }, {}, 'vduse: annotation vduse.kubevirt.io/pod-network is ignored: it is read as a Namespace annotation'],
    ['a tuning annotation written as a label', { labels: { 'vduse.kubevirt.io/rx-queue-size': '512' } }, {}, 'vduse: label vduse.kubevirt.io/rx-queue-size is ignored: it is read as an annotation (VM, template or Namespace)'],
  ] as const)('warns about %s, naming the key and what would be read', (_title, shape, scenario, warning) => {
    const vm = vmWith({ ...dataplane, ...shape });
    if ('templateLabels' in shape) template(vm).metadata = { ...template(vm).metadata, labels: shape.templateLabels };
    const decision = decideFor(vm, { namespaceLabels: POLICY_ENABLED, ...scenario });
    expect(decision.allowed, decision.reason).toBe(true);
    expect(decision.warnings).toContain(warning);
    // The misspelt value is not read: the ring keeps its default.
    if ('annotations' in shape && 'vduse.kubevirt.io/rx-queue-sizes' in shape.annotations) expect(applyIndependently(vm, decision.patch).spec.template.metadata!.annotations!['vduse.kubevirt.io/rx-queue-size']).toBe('1024');
  });

  it('says nothing about the keys it writes itself, nor about memory-hotplug, on a VM it converted before', () => {
    const vm = vmWith({ ...dataplane, multus: { a: 'ovs-vduse-a', b: 'ovs-vduse-b' }, memory: { guest: '4Gi' }, annotations: { 'vduse.kubevirt.io/memory-hotplug': 'auto', 'vduse.kubevirt.io/rx-queue-size': '512' } });
    const { result } = mutate(vm, { namespaceLabels: POLICY_ENABLED });
    expect(Object.keys(template(result).metadata!.annotations!)).toEqual(expect.arrayContaining(['vduse.kubevirt.io/defaulted', 'vduse.kubevirt.io/memlock-overhead', 'vduse.kubevirt.io/max-guest']));
    expect(decideFor(result, { namespaceLabels: POLICY_ENABLED, operation: 'UPDATE', oldObject: result }).warnings).toEqual([]);
  });

  it('refuses a misspelt Namespace policy with the same message, whatever the VM says, so neither webhook admits it', () => {
    const message = 'Namespace telco: label vduse.kubevirt.io/policy: got "enable"; expected one of enabled, disabled (ask the namespace\'s administrator)';
    for (const labels of [{}, { 'vduse.kubevirt.io/enabled': 'true' }, { 'vduse.kubevirt.io/enabled': 'false' }] as Record<string, string>[]) {
      expect(decideFor(vmWith({ ...dataplane, labels }), { namespaceLabels: { 'vduse.kubevirt.io/policy': 'enable' } })).toMatchObject({ allowed: false, reason: message });
    }
  });

  it('refuses a misspelt VM label with the same message in an enabled Namespace and in a plain one', () => {
    const vm = vmWith({ ...dataplane, labels: { 'vduse.kubevirt.io/enabled': 'yes' } });
    const message = 'VirtualMachine telco/vm-cirros: label vduse.kubevirt.io/enabled: got "yes"; expected "true" or "false"';
    expect(decideFor(vm, { namespaceLabels: POLICY_ENABLED })).toMatchObject({ allowed: false, reason: message });
    expect(decideFor(vm, {})).toMatchObject({ allowed: false, reason: message });
  });

  it('warns, naming the NetworkAttachmentDefinition, when a wanted VM refers to one that does not exist yet', () => {
    const vm = vmWith({ multus: { dataplane: 'ovs-vduse-a', storage: 'not-yet', remote: 'infra/elsewhere' } });
    const decision = decideFor(vm, { namespaceLabels: POLICY_ENABLED });
    expect(decision.interfaces).toEqual(['dataplane']);
    expect(decision.warnings).toContain('vduse: network storage left unconverted: no NetworkAttachmentDefinition not-yet');
    expect(decision.warnings).toContain('vduse: network remote left unconverted: no NetworkAttachmentDefinition infra/elsewhere');
    // Once it exists, the next update converts it, and the warning goes.
    const later = decideFor(applyIndependently(vm, decision.patch), { namespaceLabels: POLICY_ENABLED, operation: 'UPDATE', nads: { ...NADS, 'not-yet': VDUSE_RESOURCE, 'infra/elsewhere': 'intel.com/sriov' } });
    expect(later.interfaces).toEqual(['dataplane', 'storage']);
    expect(later.warnings.join('\n')).not.toContain('no NetworkAttachmentDefinition');
    // Only a VM that wants VDUSE hears about it.
    expect(decideFor(vm, {}).warnings).toEqual([]);
  });

  it('warns that a tuning change reaches a VM whose VMI exists only at its next restart; not when it is stopped, nor when nothing changed', () => {
    const { result: stored } = mutate(vmWith(dataplane), { namespaceLabels: POLICY_ENABLED });
    const running = { ...stored, status: { created: true, printableStatus: 'Running' } };
    const annotated = structuredClone(running);
    annotated.metadata!.annotations = { 'vduse.kubevirt.io/rx-queue-size': '512', 'vduse.kubevirt.io/coalesce': 'adaptive-rx' };
    const update = (object: unknown, oldObject: unknown) => decideFor(object, { namespaceLabels: POLICY_ENABLED, operation: 'UPDATE', oldObject });
    expect(update(annotated, running).warnings).toContain('vduse: rx-queue-size, coalesce changed: the running VMI keeps its old tuning until the VM restarts');
    expect(update(annotated, stored).warnings.join('\n')).not.toContain('restarts');
    expect(update(running, running).warnings).toEqual([]);
    // A Namespace default that changes reaches the template the same way, and waits the same.
    expect(decideFor(running, { namespaceLabels: POLICY_ENABLED, namespaceAnnotations: { 'vduse.kubevirt.io/queues': '2' }, operation: 'UPDATE', oldObject: running }).warnings).toEqual([
      'vduse: queues changed: the running VMI keeps its old tuning until the VM restarts',
    ]);
  });

  it('says an interface was converted only when it was not on the binding before: re-applying the VM as written says nothing', () => {
    const written = vmWith({ ...dataplane, memory: { guest: '4Gi', hugepages: { pageSize: '1Gi' } } });
    const first = mutate(written, { namespaceLabels: POLICY_ENABLED });
    expect(first.decision.warnings).toEqual(['vduse: 1Gi of ordinary memory reserved for locked memory: KubeVirt counts addedOverhead outside hugepages', 'vduse: interfaces dataplane now use binding vduse']);
    // kubectl apply's three-way merge sends the interface list as written (JSON merge patch
    // replaces a list) and keeps the template's annotations and memory as stored.
    const reapplied = structuredClone(first.result);
    reapplied.spec.template.spec!.domain.devices.interfaces = written.spec.template.spec!.domain.devices.interfaces;
    const again = decideFor(reapplied, { namespaceLabels: POLICY_ENABLED, operation: 'UPDATE', oldObject: first.result });
    expect(again).toMatchObject({ allowed: true, warnings: [] });
    // The stored VM comes out as it was.
    expect(applyIndependently(reapplied, again.patch)).toEqual(first.result);
    // A second VDUSE network added later is a conversion, and only it is named.
    const grown = structuredClone(first.result);
    grown.spec.template.spec!.networks!.push({ name: 'storage', multus: { networkName: 'ovs-vduse-b' } });
    grown.spec.template.spec!.domain.devices.interfaces!.push({ name: 'storage', bridge: {} });
    expect(decideFor(grown, { namespaceLabels: POLICY_ENABLED, operation: 'UPDATE', oldObject: first.result }).warnings).toContain('vduse: interfaces storage now use binding vduse');
  });
});
