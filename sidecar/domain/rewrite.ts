// The pure domain rewrite: KubeVirt's domain XML in, the same domain with the chosen interfaces
// as vhost-vDPA out, and guest memory a VDUSE device can reach. No I/O. Idempotent: rewriting its
// own output changes nothing.
import { describeObject, InvalidInputError } from '../../api/errors.ts';
import { type Interface, type VirtualMachineInstance, vmiInterfaces } from '../../api/kubevirt.ts';
import { MAX_QUEUES, type Tuning } from '../../api/tuning.ts';
import { shareGuestMemory } from './memory-backing.ts';
import { ALIAS_PREFIX, buildVdpaInterface } from './vdpa-interface.ts';
import { attribute, buildDomainXml, childElements, parseDomainXml, textOf, type XmlElement } from './xml.ts';

export interface DeviceForInterface {
  /** The device as the compute container sees it (the stable link, not /dev/vhost-vdpa-N). */
  path: string;
  /** network-info's MAC, the fallback when the VMI interface has none. */
  mac?: string;
  /**
   * A hardware vDPA device (device-info names its PCI address). Its driver works in PA mode and
   * pins guest memory wherever it is mapped, so it needs no shared memory; VDUSE (and a device
   * of unknown kind) does: memory-backing.ts.
   */
  hardware?: boolean;
}

export interface DomainRewriteRequest {
  domainXml: string;
  vmi: VirtualMachineInstance;
  tuning: Tuning;
  /** Names of the VMI interfaces to convert. */
  interfaces: readonly string[];
  /** Interface name → its device. Every converted interface needs one. */
  devices: ReadonlyMap<string, DeviceForInterface>;
}

export function rewriteDomain(request: DomainRewriteRequest): string {
  const subject = describeObject('VirtualMachineInstance', request.vmi.metadata);
  const root = parseDomainXml(request.domainXml);
  const converted = buildInterfaces(request, subject, resolveQueues(request.tuning.queues, request.vmi, root));
  placeInterfaces(singleChild(root, 'devices'), request.interfaces, converted);
  if (needsSharedMemory(request)) shareGuestMemory(root, subject);
  return buildDomainXml(root);
}

/** One vdpa interface per converted VMI interface, in the request's order. */
function buildInterfaces(request: DomainRewriteRequest, subject: string, queues: number): XmlElement[] {
  const vmiInterfaceByName = new Map(vmiInterfaces(request.vmi).map((iface) => [iface.name, iface]));
  return request.interfaces.map((name) => {
    const vmiInterface: Interface | undefined = vmiInterfaceByName.get(name);
    if (!vmiInterface) {
      throw new InvalidInputError(subject, 'spec.domain.devices.interfaces', name, 'an interface with this name in the VMI');
    }
    const device = request.devices.get(name);
    if (!device) {
      throw new InvalidInputError(
        subject,
        `interface ${name}: vhost-vDPA device`,
        undefined,
        `a device for network ${name} in network-info; check that its NetworkAttachmentDefinition has ` +
          `k8s.v1.cni.cncf.io/resourceName of the VDUSE device plugin and the binding plugin has downwardAPI: device-info`,
      );
    }
    return buildVdpaInterface({
      subject,
      vmiInterface,
      tuning: request.tuning,
      queues,
      sourcePath: device.path,
      fallbackMac: device.mac,
    });
  });
}

/** Each converted interface replaces the one with its alias, or is appended when there is none. */
function placeInterfaces(devices: XmlElement, names: readonly string[], converted: readonly XmlElement[]): void {
  const interfaces = childElements(devices, 'interface');
  for (const [index, name] of names.entries()) {
    const alias = `${ALIAS_PREFIX}${name}`;
    const position = interfaces.findIndex((iface) => attribute(childElements(iface, 'alias')[0], 'name') === alias);
    if (position === -1) {
      interfaces.push(converted[index]!);
      continue;
    }
    interfaces[position] = converted[index]!;
    // A duplicate alias would define the device twice; keep only the converted one.
    for (let later = interfaces.length - 1; later > position; later--) {
      if (attribute(childElements(interfaces[later]!, 'alias')[0], 'name') === alias) interfaces.splice(later, 1);
    }
  }
  if (interfaces.length > 0) devices.interface = interfaces;
}

/** Any converted interface on a device that is not hardware vDPA: VDUSE reaches guest memory only through shared files. */
const needsSharedMemory = (request: DomainRewriteRequest): boolean =>
  request.interfaces.some((name) => request.devices.get(name)?.hardware !== true);

/** "auto" is the vCPU count when the VMI asks for multiqueue, else one pair. */
function resolveQueues(queues: Tuning['queues'], vmi: VirtualMachineInstance, root: XmlElement): number {
  if (queues !== 'auto') return queues;
  if (vmi.spec.domain.devices.networkInterfaceMultiqueue !== true) return 1;
  const vcpuText = textOf(childElements(root, 'vcpu')[0]);
  const vcpus = Number(vcpuText);
  if (!Number.isInteger(vcpus) || vcpus < 1) {
    throw new InvalidInputError('domain XML', '<vcpu>', vcpuText, 'a positive vCPU count, needed for queues=auto');
  }
  return Math.min(vcpus, MAX_QUEUES);
}

/** The one child element with this tag, made an element if it was empty text (`<devices/>`). */
function singleChild(parent: XmlElement, tag: string): XmlElement {
  const children = parent[tag];
  if (!Array.isArray(children) || children.length !== 1) {
    const count = Array.isArray(children) ? children.length : 0;
    throw new InvalidInputError('domain XML', `<${tag}>`, `${count} elements`, `exactly one <${tag}> element`);
  }
  if (typeof children[0] === 'string') children[0] = {};
  return children[0] as XmlElement;
}
