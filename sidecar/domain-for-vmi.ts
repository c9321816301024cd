// OnDefineDomain's decisions, without its I/O: which interfaces, where their devices appear to
// the compute container, and the resulting domain XML.
import { InvalidInputError } from '../api/errors.ts';
import type { VirtualMachineInstance } from '../api/kubevirt.ts';
import { computeViewOfDeviceLink } from '../api/names.ts';
import type { VdpaDevice } from '../api/network-info.ts';
import { podInterfaceName } from '../api/pod-interface.ts';
import type { Tuning } from '../api/tuning.ts';
import { type DeviceForInterface, rewriteDomain } from './domain/rewrite.ts';
import { type InterfaceSelectionOptions, selectInterfaces } from './interface-selection.ts';
import { tuningOfVmi } from './vmi-tuning.ts';

export interface PlannedInterface {
  /** The VMI interface and network name. */
  name: string;
  /** KubeVirt's pod interface name for it, which names the device link. */
  podInterface: string;
}

export interface ConversionPlan {
  tuning: Tuning;
  interfaces: PlannedInterface[];
}

export function planConversion(vmi: VirtualMachineInstance, options: InterfaceSelectionOptions): ConversionPlan {
  const tuning = tuningOfVmi(vmi);
  const interfaces = selectInterfaces(vmi, tuning, options).map((name) => ({ name, podInterface: podInterfaceName(name) }));
  return { tuning, interfaces };
}

export interface DomainForVmiRequest {
  vmi: VirtualMachineInstance;
  domainXml: string;
  plan: ConversionPlan;
  /** The sidecar container's name, through which the compute container reaches the sidecar's files. */
  containerName: string;
  /** Network name → its device, as network-info (or the devices annotation) gives it. */
  devices: ReadonlyMap<string, VdpaDevice>;
}

export function domainForVmi(request: DomainForVmiRequest): string {
  if (!request.containerName) {
    throw new InvalidInputError('sidecar', 'CONTAINER_NAME', request.containerName, 'the sidecar container name, which KubeVirt sets');
  }
  const devices = new Map<string, DeviceForInterface>();
  for (const { name, podInterface } of request.plan.interfaces) {
    const device = request.devices.get(name);
    if (!device) continue;
    devices.set(name, {
      path: computeViewOfDeviceLink(request.containerName, podInterface),
      ...(device.mac ? { mac: device.mac } : {}),
      hardware: device.pciAddress !== undefined,
    });
  }
  return rewriteDomain({
    domainXml: request.domainXml,
    vmi: request.vmi,
    tuning: request.plan.tuning,
    interfaces: request.plan.interfaces.map(({ name }) => name),
    devices,
  });
}
