// What must match between the source's and the target's domain for a live migration of the
// converted interfaces, and that the XML names the stable link rather than a node's device.
import { attribute, childElements, parseDomainXml, type XmlElement } from './domain/xml.ts';

export interface MigrationDifference {
  interface: string;
  what: string;
  source: string | undefined;
  target: string | undefined;
}

const NODE_DEVICE = /^\/dev\/vhost-vdpa-\d+$/;

function vdpaInterfaces(xml: string): Map<string, XmlElement> {
  const devices = childElements(parseDomainXml(xml), 'devices')[0];
  const result = new Map<string, XmlElement>();
  for (const iface of devices ? childElements(devices, 'interface') : []) {
    if (attribute(iface, 'type') !== 'vdpa') continue;
    result.set(attribute(childElements(iface, 'alias')[0], 'name') ?? '(no alias)', iface);
  }
  return result;
}

const COMPARED: [string, (iface: XmlElement) => string | undefined][] = [
  ['type', (iface) => attribute(iface, 'type')],
  ['mac', (iface) => attribute(childElements(iface, 'mac')[0], 'address')],
  ['model', (iface) => attribute(childElements(iface, 'model')[0], 'type')],
  ['pci address', (iface) => {
    const address = childElements(iface, 'address')[0];
    return address ? ['domain', 'bus', 'slot', 'function'].map((name) => attribute(address, name)).join(':') : undefined;
  }],
  ['acpi index', (iface) => attribute(childElements(iface, 'acpi')[0], 'index')],
  ['queues', (iface) => attribute(childElements(iface, 'driver')[0], 'queues')],
  ['rx_queue_size', (iface) => attribute(childElements(iface, 'driver')[0], 'rx_queue_size')],
  ['tx_queue_size', (iface) => attribute(childElements(iface, 'driver')[0], 'tx_queue_size')],
  ['page_per_vq', (iface) => attribute(childElements(iface, 'driver')[0], 'page_per_vq')],
  ['source', (iface) => attribute(childElements(iface, 'source')[0], 'dev')],
];

export function compareForMigration(sourceXml: string, targetXml: string): MigrationDifference[] {
  const source = vdpaInterfaces(sourceXml);
  const target = vdpaInterfaces(targetXml);
  const differences: MigrationDifference[] = [];
  // Two domains without a vdpa interface match trivially: the wrong VM was dumped, or a domain from
  // before the sidecar. That must not pass.
  if (source.size === 0 && target.size === 0) {
    return [{ interface: '*', what: 'nothing to compare: neither domain has a vdpa interface (the wrong VM, or a domain the sidecar did not convert?)', source: '0', target: '0' }];
  }
  if (source.size !== target.size) differences.push({ interface: '*', what: 'vdpa interface count', source: String(source.size), target: String(target.size) });
  for (const alias of new Set([...source.keys(), ...target.keys()])) {
    const sourceInterface = source.get(alias);
    const targetInterface = target.get(alias);
    if (!sourceInterface || !targetInterface) {
      differences.push({ interface: alias, what: 'present', source: sourceInterface ? 'yes' : 'no', target: targetInterface ? 'yes' : 'no' });
      continue;
    }
    for (const [what, read] of COMPARED) {
      const before = read(sourceInterface);
      const after = read(targetInterface);
      if (before !== after) differences.push({ interface: alias, what, source: before, target: after });
    }
    for (const [side, iface] of [['source', sourceInterface], ['target', targetInterface]] as const) {
      const dev = attribute(childElements(iface, 'source')[0], 'dev');
      if (dev === undefined || NODE_DEVICE.test(dev)) {
        differences.push({ interface: alias, what: `${side} path is a node device, not the stable link`, source: side === 'source' ? dev : undefined, target: side === 'target' ? dev : undefined });
      }
    }
  }
  return differences;
}
