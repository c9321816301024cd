// VirtualMachines for the webhook tests, built from KubeVirt's own example (vm-cirros.yaml) and
// its fully populated API round-trip object.
import { parse as parseYaml } from 'yaml';
import type { Interface, Network, VirtualMachine } from '../../api/kubevirt.ts';
import { readKubevirtFile } from './kubevirt-files.ts';

export const NAMESPACE = 'telco';
export const VDUSE_RESOURCE = 'vduse.io/vduse';

/** KubeVirt's example vm-cirros, in our namespace. */
export function cirrosVm(): VirtualMachine {
  const vm = parseYaml(readKubevirtFile('examples/vm-cirros.yaml')) as VirtualMachine;
  vm.metadata = { ...vm.metadata, namespace: NAMESPACE };
  return vm;
}

export interface VmShape {
  /** Secondary networks: name -> NetworkAttachmentDefinition name (same namespace). */
  multus?: Record<string, string>;
  /** Extra fields per interface name, such as macAddress or model. */
  interfaceFields?: Record<string, Partial<Interface>>;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  templateAnnotations?: Record<string, string>;
  memory?: Record<string, unknown> | null;
  requestsMemory?: string;
  withoutCloudInit?: boolean;
}

/** vm-cirros with the pod network (masquerade) and the given Multus networks (bridge binding). */
export function vmWith(shape: VmShape = {}): VirtualMachine {
  const vm = cirrosVm();
  const template = vm.spec.template;
  const spec = template.spec!;
  const multus = Object.entries(shape.multus ?? {});
  const interfaces: Interface[] = [{ name: 'default', masquerade: {} }, ...multus.map(([name]) => ({ name, bridge: {} }))].map((iface) => ({
    ...iface,
    ...shape.interfaceFields?.[iface.name],
  }));
  const networks: Network[] = [{ name: 'default', pod: {} }, ...multus.map(([name, nad]) => ({ name, multus: { networkName: nad } }))];
  spec.domain.devices.interfaces = interfaces;
  spec.networks = networks;
  if (shape.memory === null) delete spec.domain.memory;
  else if (shape.memory) spec.domain.memory = shape.memory;
  if (shape.requestsMemory) spec.domain.resources = { requests: { memory: shape.requestsMemory } };
  if (shape.withoutCloudInit) spec.volumes = spec.volumes!.filter((volume) => !volume.cloudInitNoCloud);
  if (shape.labels) vm.metadata!.labels = { ...vm.metadata!.labels, ...shape.labels };
  if (shape.annotations) vm.metadata!.annotations = shape.annotations;
  if (shape.templateAnnotations) template.metadata = { ...template.metadata, annotations: shape.templateAnnotations };
  return vm;
}

/** KubeVirt's round-trip VirtualMachine: every field set, status and managedFields included. */
export function roundTripVm(): Record<string, unknown> & { metadata: Record<string, unknown>; spec: { template: { metadata: Record<string, unknown>; spec: Record<string, never> } } } {
  const vm = JSON.parse(readKubevirtFile('apitesting-VirtualMachine.json')) as ReturnType<typeof roundTripVm>;
  delete vm.metadata.deletionTimestamp;
  delete vm.spec.template.metadata.deletionTimestamp;
  // Its instancetype and preference name kind "kindValue", which KubeVirt itself refuses.
  delete (vm.spec as Record<string, unknown>).instancetype;
  delete (vm.spec as Record<string, unknown>).preference;
  return vm;
}

/**
 * What `virtctl create vm --instancetype u1.medium --preference fedora --volume-containerdisk ...
 * --cloud-init-user-data ...` prints (pkg/virtctl/create/vm/vm.go newVM): no networks and no
 * interfaces, `devices: {}` and `resources: {}` (Go structs without omitempty), no guest memory
 * with an instancetype, and a cloudInitNoCloud volume when asked for.
 */
export function virtctlVm(options: { cloudInit?: boolean; instancetype?: string; preference?: string } = {}): VirtualMachine {
  const volumes: Record<string, unknown>[] = [{ name: 'vm-containerdisk-0', containerDisk: { image: 'quay.io/containerdisks/fedora:latest' } }];
  if (options.cloudInit !== false) volumes.push({ name: 'cloudinitdisk', cloudInitNoCloud: { userData: '#cloud-config\nuser: fedora\npassword: fedora\nchpasswd: { expire: False }\n' } });
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name: 'vm-virtctl', namespace: NAMESPACE, creationTimestamp: null },
    spec: {
      ...(options.instancetype !== undefined ? { instancetype: { kind: 'virtualmachineclusterinstancetype', name: options.instancetype } } : {}),
      ...(options.preference !== undefined ? { preference: { kind: 'virtualmachineclusterpreference', name: options.preference } } : {}),
      runStrategy: 'Always',
      template: {
        metadata: { creationTimestamp: null },
        spec: { domain: { devices: {}, resources: {} }, terminationGracePeriodSeconds: 180, volumes },
      },
    },
  } as unknown as VirtualMachine;
}
