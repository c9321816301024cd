// The errors docs/troubleshooting.md quotes, produced by the real code on example inputs, so the
// test that checks the document fails when a message changes.
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HookCallbacks } from '../../sidecar/callbacks.ts';
import { applyIndependently, decideFor, kubevirtWith, POLICY_ENABLED } from './admission.ts';
import { kubevirtFile } from './kubevirt-files.ts';
import { virtctlVm, vmWith } from './vms.ts';
import { masqueradeDefault, vduseInterface, vmiWith } from './vmis.ts';

export interface TroubleshootingCase {
  title: string;
  message: string;
}

async function sidecarError(run: (callbacks: HookCallbacks) => Promise<unknown>, networkInfo?: string, containerName = 'hook-sidecar-0'): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'vduse-docs-'));
  const networkInfoPath = join(dir, 'network-info');
  if (networkInfo !== undefined) writeFileSync(networkInfoPath, networkInfo);
  const callbacks = new HookCallbacks({ bindingName: 'vduse', socketDir: dir, containerName, networkInfoPath, networkInfoTimeoutMs: 200, annotationHook: false });
  try {
    await run(callbacks);
  } catch (error) {
    return (error as Error).message.replace(dir, '/etc/podinfo').replace('0.2 s', '30 s');
  }
  throw new Error('expected an error');
}

function dedicatedVm() {
  const vm = vmWith({ multus: { dataplane: 'ovs-vduse-a' } });
  vm.spec.template.spec!.domain.cpu = { cores: 2, dedicatedCpuPlacement: true };
  return vm;
}

/** A VM no policy converts, whose interfaces are bound to the given bindings by hand. */
function handBound(bindings: string[], withoutCloudInit = false) {
  const vm = vmWith({ withoutCloudInit, multus: { dataplane: 'sriov-net', storage: 'sriov-net' } });
  bindings.forEach((binding, index) => (vm.spec.template.spec!.domain.devices.interfaces![index + 1] = { name: index === 0 ? 'dataplane' : 'storage', binding: { name: binding } }));
  return vm;
}

export async function troubleshootingCases(): Promise<TroubleshootingCase[]> {
  const denied = (object: unknown, scenario: Parameters<typeof decideFor>[1]) => decideFor(object, scenario).reason;
  const domain = readFileSync(kubevirtFile('domain_x86_64.xml'), 'utf8');
  const vmi = JSON.stringify(vmiWith([masqueradeDefault, vduseInterface('net1', { macAddress: '02:00:00:00:00:10' })]));
  return [
    {
      title: 'VM asks for VDUSE in a disabled Namespace',
      message: denied(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, labels: { 'vduse.kubevirt.io/enabled': 'true' } }), { namespaceLabels: { 'vduse.kubevirt.io/policy': 'disabled' } }),
    },
    { title: 'Namespace policy not recognised', message: denied(virtctlVm(), { namespaceLabels: { 'vduse.kubevirt.io/policy': 'enable' } }) },
    { title: 'VM label not true or false', message: denied(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, labels: { 'vduse.kubevirt.io/enabled': 'yes' } }), {}) },
    { title: 'Bad tuning annotation', message: denied(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, annotations: { 'vduse.kubevirt.io/rx-queue-size': '300' } }), { namespaceLabels: POLICY_ENABLED }) },
    { title: 'Bad coalesce setting', message: denied(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, annotations: { 'vduse.kubevirt.io/coalesce': 'tx-frames=8,rx-usecs=-5' } }), { namespaceLabels: POLICY_ENABLED }) },
    { title: 'Non-virtio model', message: denied(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, interfaceFields: { dataplane: { model: 'e1000e' } } }), { namespaceLabels: POLICY_ENABLED }) },
    { title: 'Networks annotation names a missing network', message: denied(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, annotations: { 'vduse.kubevirt.io/networks': 'data' } }), { namespaceLabels: POLICY_ENABLED }) },
    { title: 'Namespace cannot be read', message: denied(vmWith({ multus: { dataplane: 'ovs-vduse-a' } }), { namespaceUnreadable: 'Namespace telco: no answer from the API server within 2 s' }) },
    {
      title: 'NetworkAttachmentDefinition cannot be read',
      message: denied(vmWith({ multus: { dataplane: 'ovs-vduse-a' } }), { namespaceLabels: POLICY_ENABLED, nads: { 'ovs-vduse-a': null } }),
    },
    {
      title: 'Instancetype or preference does not exist',
      message: denied(virtctlVm({ instancetype: 'u1.medium' }), { namespaceLabels: POLICY_ENABLED, namespaceAnnotations: { 'vduse.kubevirt.io/pod-network': 'vduse' }, instancetype: null }),
    },
    {
      title: 'Instancetype cannot be read',
      message: denied(virtctlVm({ instancetype: 'u1.medium' }), { namespaceLabels: POLICY_ENABLED, namespaceAnnotations: { 'vduse.kubevirt.io/pod-network': 'vduse' }, instancetype: { unreadable: 'HTTP 403' } }),
    },
    {
      title: 'Guest memory beside an instancetype',
      message: denied(
        (() => {
          const vm = virtctlVm({ instancetype: 'u1.medium' });
          vm.spec.template.spec!.domain.memory = { guest: '2Gi' };
          return vm;
        })(),
        { namespaceLabels: POLICY_ENABLED, instancetype: { spec: { cpu: { guest: 1 }, memory: { guest: '4Gi' } } } },
      ),
    },
    {
      title: 'Unknown instancetype kind',
      message: denied(
        (() => {
          const vm = virtctlVm();
          (vm.spec as unknown as Record<string, unknown>).instancetype = { kind: 'Flavor', name: 'large' };
          return vm;
        })(),
        { namespaceLabels: POLICY_ENABLED },
      ),
    },
    { title: 'Both VDUSE bindings written by hand', message: denied(handBound(['vduse', 'vduse-cloudinit']), {}) },
    { title: 'The cloud-init binding written by hand, without cloud-init', message: denied(handBound(['vduse-cloudinit'], true), {}) },
    { title: 'Bad pod-network annotation', message: denied(virtctlVm(), { namespaceLabels: POLICY_ENABLED, namespaceAnnotations: { 'vduse.kubevirt.io/pod-network': 'yes' } }) },
    { title: 'Binding not registered', message: denied(vmWith({ multus: { dataplane: 'ovs-vduse-a' } }), { namespaceLabels: POLICY_ENABLED, kubevirt: kubevirtWith((c) => delete c.network.binding.vduse) }) },
    {
      title: 'Feature gate missing',
      message: denied(vmWith({ multus: { dataplane: 'ovs-vduse-a' } }), { namespaceLabels: POLICY_ENABLED, kubevirt: kubevirtWith((c) => (c.developerConfiguration.featureGates = ['Snapshot'])) }),
    },
    {
      title: 'Sidecar memory too small for dedicated CPUs',
      message: denied(dedicatedVm(), { namespaceLabels: POLICY_ENABLED, kubevirt: kubevirtWith((c) => delete c.supportContainerResources) }),
    },
    {
      title: 'Coalescing without cloud-init',
      message: decideFor(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, withoutCloudInit: true, annotations: { 'vduse.kubevirt.io/coalesce': 'adaptive-rx' } }), { namespaceLabels: POLICY_ENABLED }).warnings.find((warning) => warning.includes('coalescing'))!,
    },
    {
      title: 'Pod network added',
      message: decideFor(virtctlVm(), { namespaceLabels: POLICY_ENABLED, namespaceAnnotations: { 'vduse.kubevirt.io/pod-network': 'vduse' } }).warnings.find((warning) => warning.includes('pod network'))!,
    },
    {
      title: 'Instancetype still to be inferred',
      message: decideFor(
        (() => {
          const vm = virtctlVm();
          (vm.spec as unknown as Record<string, unknown>).instancetype = { inferFromVolume: 'vm-containerdisk-0' };
          return vm;
        })(),
        { namespaceLabels: POLICY_ENABLED, namespaceAnnotations: { 'vduse.kubevirt.io/pod-network': 'vduse' } },
      ).warnings.find((warning) => warning.includes('inferred'))!,
    },
    {
      title: 'Interfaces switched to VDUSE',
      message: decideFor(vmWith({ multus: { dataplane: 'ovs-vduse-a' } }), { namespaceLabels: POLICY_ENABLED }).warnings.find((warning) => warning.includes('now use binding'))!,
    },
    {
      title: 'Unknown key',
      message: decideFor(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, annotations: { 'vduse.kubevirt.io/rx-queue-sizes': '512' } }), { namespaceLabels: POLICY_ENABLED }).warnings.find((warning) => warning.includes('unknown'))!,
    },
    {
      title: 'Key where it is not read',
      message: decideFor(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, annotations: { 'vduse.kubevirt.io/enabled': 'true' } }), { namespaceLabels: POLICY_ENABLED }).warnings.find((warning) => warning.includes('ignored'))!,
    },
    {
      title: 'NetworkAttachmentDefinition not found',
      message: decideFor(vmWith({ multus: { dataplane: 'ovs-vduse-a', storage: 'ovs-dpdk-vduse' } }), { namespaceLabels: POLICY_ENABLED }).warnings.find((warning) => warning.includes('no NetworkAttachmentDefinition'))!,
    },
    { title: 'Nothing on a VDUSE network', message: decideFor(virtctlVm(), { namespaceLabels: POLICY_ENABLED }).warnings.find((warning) => warning.includes('skipped'))! },
    {
      title: 'Tuning changed on a running VM',
      message: (() => {
        const vm = vmWith({ multus: { dataplane: 'ovs-vduse-a' } });
        const stored = { ...applyIndependently(vm, decideFor(vm, { namespaceLabels: POLICY_ENABLED }).patch), status: { created: true } };
        const annotated = { ...structuredClone(stored), metadata: { ...stored.metadata, annotations: { 'vduse.kubevirt.io/rx-queue-size': '512' } } };
        return decideFor(annotated, { namespaceLabels: POLICY_ENABLED, operation: 'UPDATE', oldObject: stored }).warnings.find((warning) => warning.includes('restarts'))!;
      })(),
    },
    {
      title: 'NetworkAttachmentDefinition unreadable, onLookupFailure allow',
      message: decideFor(vmWith({ multus: { dataplane: 'ovs-vduse-a', storage: 'ovs-vduse-b' } }), { namespaceLabels: POLICY_ENABLED, nads: { 'ovs-vduse-a': 'vduse.io/vduse', 'ovs-vduse-b': null }, config: { onLookupFailure: 'allow' } }).warnings.find((warning) => warning.includes('left unconverted'))!,
    },
    ...(['instancetype', 'preference'] as const).map((kind) => ({
      title: `${kind === 'instancetype' ? 'Instancetype' : 'Preference'} unreadable, onLookupFailure allow`,
      message: decideFor(virtctlVm({ instancetype: 'u1.medium', preference: 'fedora' }), {
        namespaceLabels: POLICY_ENABLED,
        namespaceAnnotations: { 'vduse.kubevirt.io/pod-network': 'vduse' },
        config: { onLookupFailure: 'allow' },
        instancetype: kind === 'instancetype' ? { unreadable: 'HTTP 403' } : { spec: { cpu: { guest: 1 }, memory: { guest: '4Gi' } } },
        preference: kind === 'preference' ? { unreadable: 'HTTP 403' } : { spec: {} },
      }).warnings.filter((warning) => warning.includes('read')).join('\n'),
    })),
    {
      title: 'Memlock overhead not sized',
      message: decideFor(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, memory: {} }), { namespaceLabels: POLICY_ENABLED }).warnings.find((warning) => warning.includes('cannot be sized'))!,
    },
    {
      title: 'Memory hotplug turned off for several VDUSE interfaces',
      message: decideFor(vmWith({ multus: { a: 'ovs-vduse-a', b: 'ovs-vduse-b' }, memory: { guest: '4Gi' } }), { namespaceLabels: POLICY_ENABLED }).warnings.find((warning) => warning.includes('maxGuest set to'))!,
    },
    {
      title: 'Memory hotplug kept with several VDUSE interfaces',
      message: decideFor(vmWith({ multus: { a: 'ovs-vduse-a', b: 'ovs-vduse-b' }, memory: { guest: '4Gi' }, annotations: { 'vduse.kubevirt.io/memory-hotplug': 'keep' } }), { namespaceLabels: POLICY_ENABLED }).warnings.find((warning) => warning.includes('memory hotplug'))!,
    },
    {
      title: 'Hugepages guest, overhead in ordinary memory',
      message: decideFor(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, memory: { guest: '4Gi', hugepages: { pageSize: '1Gi' } } }), { namespaceLabels: POLICY_ENABLED }).warnings.find((warning) => warning.includes('hugepages'))!,
    },
    ...([['not found', null], ['unreadable', { unreadable: 'its watch has not synced' }]] as const).map(([what, kubevirt]) => ({
      title: `KubeVirt CR ${what}`,
      message: decideFor(vmWith({ multus: { dataplane: 'ovs-vduse-a' } }), { namespaceLabels: POLICY_ENABLED, kubevirt }).warnings.find((warning) => warning.includes('KubeVirt CR'))!,
    })),
    {
      title: 'Two binding plugins with sidecars',
      message: decideFor(
        (() => {
          const vm = vmWith({ multus: { dataplane: 'ovs-vduse-a', storage: 'sriov-net' } });
          vm.spec.template.spec!.domain.devices.interfaces![2] = { name: 'storage', binding: { name: 'passt' } };
          return vm;
        })(),
        { namespaceLabels: POLICY_ENABLED, kubevirt: kubevirtWith((c) => (c.network.binding.passt = { sidecarImage: 'passt-binding:1.7', migration: {} })) },
      ).warnings.find((warning) => warning.includes('live migration may fail'))!,
    },
    { title: 'No device in network-info', message: await sidecarError((callbacks) => callbacks.onDefineDomain(domain, vmi), '{"interfaces":[]}') },
    { title: 'CONTAINER_NAME unset', message: await sidecarError((callbacks) => callbacks.onDefineDomain(domain, vmi), JSON.stringify({ interfaces: [{ network: 'net1', deviceInfo: { type: 'vdpa', version: '1.1.0', vdpa: { driver: 'vhost', path: '/dev/vhost-vdpa-0' } } }] }), '') },
    {
      title: 'Guest memory the VDUSE device cannot reach',
      message: await sidecarError(
        (callbacks) => callbacks.onDefineDomain(domain.replace('</memory>', '</memory><memoryBacking><access mode="private"/></memoryBacking>'), vmi),
        JSON.stringify({ interfaces: [{ network: 'net1', deviceInfo: { type: 'vdpa', version: '1.1.0', vdpa: { driver: 'vhost', path: '/dev/null' } } }] }),
      ),
    },
    {
      title: 'The device is virtio-vdpa, not vhost-vdpa',
      message: await sidecarError((callbacks) => callbacks.onDefineDomain(domain, vmi), JSON.stringify({ interfaces: [{ network: 'net1', deviceInfo: { type: 'vdpa', version: '1.1.0', vdpa: { driver: 'virtio', path: '/dev/vhost-vdpa-0' } } }] })),
    },
  ];
}
