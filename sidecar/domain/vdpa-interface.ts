// Builds one <interface type='vdpa'> from the VMI interface, the tuning and the device. It is built
// fresh, carrying nothing over from whatever KubeVirt emitted, so every OnDefineDomain call gives
// the same element.
import { InvalidInputError } from '../../api/errors.ts';
import type { Interface } from '../../api/kubevirt.ts';
import type { Tuning } from '../../api/tuning.ts';
import {
  isIntegerInRange,
  MAC_EXPECTED,
  MAX_ACPI_INDEX,
  MAX_BOOT_ORDER,
  normalizeMac,
  PCI_ADDRESS_EXPECTED,
  parsePciAddress,
} from './addresses.ts';
import type { XmlElement } from './xml.ts';

export const ALIAS_PREFIX = 'ua-';
/** libvirt 9 accepts only exactly "virtio" on vdpa, and reads <driver> only with a virtio model. */
const VDPA_MODEL = 'virtio';
const INTERFACE_STATES = ['up', 'down', 'absent'];

export interface VdpaInterfaceInput {
  /** For error messages: "VirtualMachineInstance ns/name". */
  subject: string;
  vmiInterface: Interface;
  tuning: Tuning;
  /** Queue pairs, with "auto" already resolved. */
  queues: number;
  /** The device as the compute container sees it. */
  sourcePath: string;
  /** network-info's MAC, used when the VMI interface has none. */
  fallbackMac: string | undefined;
}

const element = (attributes: Record<string, string>): XmlElement[] => [{ $: attributes }];

export function buildVdpaInterface(input: VdpaInterfaceInput): XmlElement {
  const { subject, vmiInterface, tuning } = input;
  const field = (name: string) => `spec.domain.devices.interfaces[${vmiInterface.name}].${name}`;

  if (vmiInterface.model !== undefined && vmiInterface.model !== VDPA_MODEL) {
    throw new InvalidInputError(subject, field('model'), vmiInterface.model, `"virtio" or no model: vhost-vDPA devices are virtio-net`);
  }
  if (vmiInterface.state !== undefined && !INTERFACE_STATES.includes(vmiInterface.state)) {
    throw new InvalidInputError(subject, field('state'), vmiInterface.state, `one of ${INTERFACE_STATES.join(', ')}`);
  }

  const macSource = vmiInterface.macAddress ?? input.fallbackMac;
  if (macSource === undefined) {
    throw new InvalidInputError(
      subject,
      field('macAddress'),
      undefined,
      `${MAC_EXPECTED}, from the VMI or from network-info (KubeVirt 1.8 or later); libvirt's random MAC would not match the VDUSE port`,
    );
  }
  const mac = normalizeMac(macSource);
  if (!mac) {
    const where = vmiInterface.macAddress !== undefined ? field('macAddress') : `network-info mac for network ${vmiInterface.name}`;
    throw new InvalidInputError(subject, where, macSource, MAC_EXPECTED);
  }

  const driver: Record<string, string> = {
    // What KubeVirt's converter writes on its own virtio interfaces (converter/network/configurator.go
    // newVirtioDriver). libvirt ignores it on vdpa (the QEMU command line is the same), but a binding
    // sidecar called after ours that reads the domain into KubeVirt's model (slirp's) writes the
    // element back with this name, or with name="", which libvirt refuses: the VM would not start.
    name: 'vhost',
    rx_queue_size: String(tuning.rxQueueSize),
    tx_queue_size: String(tuning.txQueueSize),
  };
  if (input.queues > 1) driver.queues = String(input.queues);

  const result: XmlElement = {
    $: { type: 'vdpa' },
    source: element({ dev: input.sourcePath }),
    mac: element({ address: mac }),
    model: element({ type: VDPA_MODEL }),
    driver: element(driver),
  };
  if (vmiInterface.state === 'down') result.link = element({ state: 'down' });
  if (vmiInterface.bootOrder !== undefined) {
    if (!isIntegerInRange(vmiInterface.bootOrder, 1, MAX_BOOT_ORDER)) {
      throw new InvalidInputError(subject, field('bootOrder'), vmiInterface.bootOrder, `an integer from 1 to ${MAX_BOOT_ORDER}`);
    }
    result.boot = element({ order: String(vmiInterface.bootOrder) });
  }
  result.alias = element({ name: `${ALIAS_PREFIX}${vmiInterface.name}` });
  // KubeVirt's converter: without a boot order the interface gets no option ROM.
  if (vmiInterface.bootOrder === undefined) result.rom = element({ enabled: 'no' });
  if (vmiInterface.pciAddress !== undefined) {
    const address = parsePciAddress(vmiInterface.pciAddress);
    if (!address) throw new InvalidInputError(subject, field('pciAddress'), vmiInterface.pciAddress, PCI_ADDRESS_EXPECTED);
    result.address = element({ type: 'pci', ...address });
  }
  if (vmiInterface.acpiIndex !== undefined) {
    if (!isIntegerInRange(vmiInterface.acpiIndex, 1, MAX_ACPI_INDEX)) {
      throw new InvalidInputError(subject, field('acpiIndex'), vmiInterface.acpiIndex, `an integer from 1 to ${MAX_ACPI_INDEX}`);
    }
    result.acpi = element({ index: String(vmiInterface.acpiIndex) });
  }
  return result;
}
