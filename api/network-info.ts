// The network-info file KubeVirt's downward API gives binding sidecars (/etc/podinfo/network-info):
// one entry per binding-plugin network, with the device-info that the device plugin published.
import { isObject } from './json.ts';
import { InvalidInputError } from './errors.ts';

/** Device-info spec 1.x, the vDPA part: https://github.com/k8snetworkplumbingwg/device-info-spec */
export interface VdpaDeviceInfo {
  'parent-device'?: string;
  driver: string;
  path: string;
  'pci-address'?: string;
  'pf-pci-address'?: string;
}

export interface DeviceInfo {
  type: string;
  version?: string;
  vdpa?: VdpaDeviceInfo;
}

export interface NetworkInfoInterface {
  network: string;
  deviceInfo?: DeviceInfo;
  /** KubeVirt 1.8 and later. */
  mac?: string;
  mtu?: number;
}

export interface NetworkInfo {
  interfaces: NetworkInfoInterface[];
}

/** What the rewrite needs from a network's device: the path as the sidecar sees it, and a fallback MAC. */
export interface VdpaDevice {
  network: string;
  path: string;
  mac?: string;
  /** device-info's pci-address: set for a hardware vDPA device (a VF), absent for VDUSE. */
  pciAddress?: string;
}

/** vhost-vdpa, the driver QEMU can use. `virtio` (virtio-vdpa) binds the device to the host kernel instead. */
export const ACCEPTED_VDPA_DRIVERS = ['vhost', 'vhost_vdpa'] as const;

const SOURCE = 'network-info';


/** Parses and structurally checks network-info. Per-network device problems are reported by vdpaDeviceFor. */
export function parseNetworkInfo(text: string): NetworkInfo {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError(SOURCE, 'document', text.slice(0, 60), `JSON (${(error as Error).message})`);
  }
  if (!isObject(document)) throw new InvalidInputError(SOURCE, 'document', document, 'a JSON object');
  const interfaces = document.interfaces ?? [];
  if (!Array.isArray(interfaces)) throw new InvalidInputError(SOURCE, 'interfaces', interfaces, 'an array');
  return {
    interfaces: interfaces.map((entry: unknown, index) => {
      const field = `interfaces[${index}]`;
      if (!isObject(entry)) throw new InvalidInputError(SOURCE, field, entry, 'an object');
      if (typeof entry.network !== 'string' || entry.network === '') {
        throw new InvalidInputError(SOURCE, `${field}.network`, entry.network, 'a VMI network name');
      }
      if (entry.mac !== undefined && typeof entry.mac !== 'string') {
        throw new InvalidInputError(SOURCE, `${field}.mac`, entry.mac, 'a MAC address string');
      }
      if (entry.deviceInfo !== undefined && !isObject(entry.deviceInfo)) {
        throw new InvalidInputError(SOURCE, `${field}.deviceInfo`, entry.deviceInfo, 'a device-info object');
      }
      return entry as unknown as NetworkInfoInterface;
    }),
  };
}

/** The vhost-vdpa device for one network, or undefined when network-info has no entry for it (yet). */
export function vdpaDeviceFor(info: NetworkInfo, network: string): VdpaDevice | undefined {
  const entry = info.interfaces.find((candidate) => candidate.network === network);
  if (!entry) return undefined;
  const subject = `${SOURCE} network ${JSON.stringify(network)}`;
  const deviceInfo = entry.deviceInfo;
  if (!deviceInfo) {
    throw new InvalidInputError(
      subject,
      'deviceInfo',
      undefined,
      'device-info from the VDUSE device plugin; check the binding plugin registration has downwardAPI: device-info',
    );
  }
  if (deviceInfo.type !== 'vdpa') throw new InvalidInputError(subject, 'deviceInfo.type', deviceInfo.type, '"vdpa"');
  const vdpa = deviceInfo.vdpa;
  if (!isObject(vdpa)) throw new InvalidInputError(subject, 'deviceInfo.vdpa', vdpa, 'an object with driver and path');
  if (!(ACCEPTED_VDPA_DRIVERS as readonly string[]).includes(vdpa.driver)) {
    throw new InvalidInputError(
      subject,
      'deviceInfo.vdpa.driver',
      vdpa.driver,
      `${ACCEPTED_VDPA_DRIVERS.map((driver) => JSON.stringify(driver)).join(' or ')} (a vhost-vdpa device; "virtio" is virtio-vdpa, for containers, which a VM cannot use)`,
    );
  }
  if (typeof vdpa.path !== 'string' || !vdpa.path.startsWith('/dev/')) {
    throw new InvalidInputError(subject, 'deviceInfo.vdpa.path', vdpa.path, 'a device path such as /dev/vhost-vdpa-0');
  }
  const pciAddress = typeof vdpa['pci-address'] === 'string' && vdpa['pci-address'] !== '' ? vdpa['pci-address'] : undefined;
  return { network, path: vdpa.path, ...(entry.mac ? { mac: entry.mac } : {}), ...(pciAddress ? { pciAddress } : {}) };
}

/** The devices network-info lists for these networks; a network without an entry (yet) is left out. */
export function vdpaDevicesFor(info: NetworkInfo, networks: readonly string[]): Map<string, VdpaDevice> {
  const devices = new Map<string, VdpaDevice>();
  for (const network of networks) {
    const device = vdpaDeviceFor(info, network);
    if (device) devices.set(network, device);
  }
  return devices;
}

/**
 * Annotation-hook mode has no network-info: the devices come from the VMI annotation
 * vduse.kubevirt.io/devices, a JSON map of VMI network name to device path.
 */
export function parseDevicesAnnotation(text: string, subject: string, annotation: string): Map<string, VdpaDevice> {
  const field = `annotation ${annotation}`;
  const expected = 'a JSON object mapping VMI network names to device paths under /dev, such as {"net1":"/dev/vhost-vdpa-0"}';
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new InvalidInputError(subject, field, text, expected);
  }
  if (!isObject(document)) throw new InvalidInputError(subject, field, text, expected);
  const devices = new Map<string, VdpaDevice>();
  for (const [network, path] of Object.entries(document)) {
    if (typeof path !== 'string' || !path.startsWith('/dev/')) throw new InvalidInputError(subject, `${field} network ${network}`, path, expected);
    devices.set(network, { network, path });
  }
  return devices;
}
