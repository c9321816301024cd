// The KubeVirt objects the project reads and writes. The types come from KubeVirt's OpenAPI
// document (kubevirt.generated.ts); this file only adds the small readers both components share.
import { isObject } from './json.ts';
import { describeObject, InvalidInputError } from './errors.ts';
import type { Interface, Network, VirtualMachineInstance } from './kubevirt.generated.ts';

export type * from './kubevirt.generated.ts';

export const KUBEVIRT_API_VERSION = 'kubevirt.io/v1';

export function vmiInterfaces(vmi: VirtualMachineInstance): Interface[] {
  return vmi.spec.domain.devices.interfaces ?? [];
}

export function vmiNetworks(vmi: VirtualMachineInstance): Network[] {
  return vmi.spec.networks ?? [];
}


/**
 * Checks the parts of a VMI the project relies on, so later code can trust the type. The rest of
 * the object is passed through as KubeVirt sent it.
 */
export function parseVmiObject(document: unknown, source: string): VirtualMachineInstance {
  if (!isObject(document)) throw new InvalidInputError(source, 'document', document, 'a VirtualMachineInstance object');
  if (document.kind !== undefined && document.kind !== 'VirtualMachineInstance') {
    throw new InvalidInputError(source, 'kind', document.kind, '"VirtualMachineInstance"');
  }
  if (document.apiVersion !== undefined && document.apiVersion !== KUBEVIRT_API_VERSION) {
    throw new InvalidInputError(source, 'apiVersion', document.apiVersion, `"${KUBEVIRT_API_VERSION}"`);
  }
  const subject = isObject(document.metadata)
    ? describeObject('VirtualMachineInstance', document.metadata)
    : source;
  if (document.metadata !== undefined && !isObject(document.metadata)) {
    throw new InvalidInputError(subject, 'metadata', document.metadata, 'an object');
  }
  const annotations = document.metadata?.annotations;
  if (annotations !== undefined && (!isObject(annotations) || !Object.values(annotations).every((v) => typeof v === 'string'))) {
    throw new InvalidInputError(subject, 'metadata.annotations', annotations, 'a map of strings');
  }
  const spec = document.spec;
  if (!isObject(spec)) throw new InvalidInputError(subject, 'spec', spec, 'an object');
  const domain = spec.domain;
  if (!isObject(domain)) throw new InvalidInputError(subject, 'spec.domain', domain, 'an object');
  const devices = domain.devices;
  if (!isObject(devices)) throw new InvalidInputError(subject, 'spec.domain.devices', devices, 'an object');
  const interfaces = devices.interfaces ?? [];
  if (!Array.isArray(interfaces)) throw new InvalidInputError(subject, 'spec.domain.devices.interfaces', interfaces, 'an array');
  for (const [index, iface] of interfaces.entries()) {
    if (!isObject(iface) || typeof iface.name !== 'string' || iface.name === '') {
      throw new InvalidInputError(subject, `spec.domain.devices.interfaces[${index}].name`, isObject(iface) ? iface.name : iface, 'a non-empty string');
    }
    if (iface.binding !== undefined && (!isObject(iface.binding) || typeof iface.binding.name !== 'string')) {
      throw new InvalidInputError(subject, `spec.domain.devices.interfaces[${index}].binding`, iface.binding, 'an object with a string name');
    }
  }
  const networks = spec.networks ?? [];
  if (!Array.isArray(networks) || !networks.every((network) => isObject(network) && typeof network.name === 'string')) {
    throw new InvalidInputError(subject, 'spec.networks', networks, 'an array of networks, each with a string name');
  }
  for (const [index, network] of (networks as Record<string, unknown>[]).entries()) {
    const multus = network.multus;
    if (multus !== undefined && (!isObject(multus) || typeof multus.networkName !== 'string' || multus.networkName === '')) {
      throw new InvalidInputError(subject, `spec.networks[${index}].multus`, multus, 'an object with networkName, "name" or "namespace/name" of a NetworkAttachmentDefinition');
    }
  }
  return document as unknown as VirtualMachineInstance;
}
