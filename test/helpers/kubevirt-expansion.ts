// The parts of KubeVirt's VM-to-VMI expansion that matter to VDUSE, written from KubeVirt's source
// as facts:
// - the VMI takes the template's metadata and spec (pkg/virt-controller/watch/vm.go);
// - the instancetype supplies guest memory and CPU, and conflicts with a guest memory of the VM's
//   own (pkg/instancetype/apply/memory.go validateMemory, cpu.go);
// - a preference fills only what is empty: preferredInterfaceModel an interface without a model
//   (pkg/instancetype/preference/apply/interface.go), preferredAutoattachPodInterface an unset
//   autoattachPodInterface;
// - with neither networks nor interfaces, and autoattachPodInterface not false, the pod network
//   "default" with a masquerade interface (pkg/network/vmispec/defaults.go SetDefaultNetworkInterface).
import type { VirtualMachine, VirtualMachineInstance } from '../../api/kubevirt.ts';

interface InstancetypeSpec {
  cpu?: { guest?: number; dedicatedCPUPlacement?: boolean };
  memory?: { guest?: string };
}
interface PreferenceSpec {
  devices?: { preferredInterfaceModel?: string; preferredAutoattachPodInterface?: boolean };
}

export class ExpansionConflict extends Error {}

export function expandVm(vm: VirtualMachine, matched: { instancetype?: { spec: InstancetypeSpec }; preference?: { spec: PreferenceSpec } } = {}): VirtualMachineInstance {
  const template = structuredClone(vm.spec.template);
  const spec = template.spec!;
  const instancetype = matched.instancetype?.spec;
  if (instancetype) {
    if (spec.domain.memory?.guest !== undefined) throw new ExpansionConflict('VM field spec.template.spec.domain.memory.guest conflicts with selected instance type');
    if (instancetype.memory?.guest !== undefined) spec.domain.memory = { ...spec.domain.memory, guest: instancetype.memory.guest };
    if (instancetype.cpu) {
      spec.domain.cpu = { ...spec.domain.cpu, sockets: instancetype.cpu.guest ?? 1, cores: 1, threads: 1, ...(instancetype.cpu.dedicatedCPUPlacement ? { dedicatedCpuPlacement: true } : {}) };
    }
  }
  const devices = matched.preference?.spec.devices;
  if (devices?.preferredAutoattachPodInterface !== undefined && spec.domain.devices.autoattachPodInterface === undefined) {
    spec.domain.devices.autoattachPodInterface = devices.preferredAutoattachPodInterface;
  }
  const interfaces = spec.domain.devices.interfaces ?? [];
  if (spec.domain.devices.autoattachPodInterface !== false && (spec.networks ?? []).length === 0 && interfaces.length === 0) {
    spec.domain.devices.interfaces = [{ name: 'default', masquerade: {} }];
    spec.networks = [{ name: 'default', pod: {} }];
  }
  if (devices?.preferredInterfaceModel !== undefined) {
    spec.domain.devices.interfaces = (spec.domain.devices.interfaces ?? []).map((iface) => (iface.model === undefined ? { ...iface, model: devices.preferredInterfaceModel } : iface));
  }
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    metadata: { name: vm.metadata!.name, namespace: vm.metadata!.namespace, ...(template.metadata?.labels ? { labels: template.metadata.labels } : {}), ...(template.metadata?.annotations ? { annotations: template.metadata.annotations } : {}) },
    spec,
  };
}
