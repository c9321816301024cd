// VMIs for the rewrite tests, built by hand from KubeVirt's types: the fixtures' domain is
// "mynamespace_testvmi", and its pod network interface is "default" (alias ua-default).
import type { Interface, Network, VirtualMachineInstance } from '../../api/kubevirt.ts';

export const PLUGIN = 'vduse';

export function vduseInterface(name: string, extra: Partial<Interface> = {}): Interface {
  return { name, binding: { name: PLUGIN }, ...extra };
}

/** The pod network with masquerade, as KubeVirt's default interface; converted only when rebound. */
export const masqueradeDefault: Interface = { name: 'default', masquerade: {} };

export function vmiWith(
  interfaces: Interface[],
  options: { annotations?: Record<string, string>; multiqueue?: boolean } = {},
): VirtualMachineInstance {
  const networks: Network[] = interfaces.map((iface) =>
    iface.name === 'default' ? { name: 'default', pod: {} } : { name: iface.name, multus: { networkName: `ovs-vduse-${iface.name}` } },
  );
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    metadata: { name: 'testvmi', namespace: 'mynamespace', ...(options.annotations ? { annotations: options.annotations } : {}) },
    spec: {
      domain: {
        devices: { interfaces, ...(options.multiqueue !== undefined ? { networkInterfaceMultiqueue: options.multiqueue } : {}) },
        memory: { guest: '1Gi' },
      },
      networks,
    },
  };
}

/** A unicast, locally administered MAC per interface index. */
export const macFor = (index: number): string => `02:00:00:00:00:${(index + 16).toString(16)}`;
