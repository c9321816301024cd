import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../api/errors.ts';
import { parseNetworkInfo, vdpaDeviceFor } from '../../api/network-info.ts';

const entry = (overrides: Record<string, unknown> = {}, vdpa: Record<string, unknown> = {}) => ({
  network: 'net1',
  deviceInfo: { type: 'vdpa', version: '1.1.0', vdpa: { 'parent-device': 'vduse-net1', driver: 'vhost', path: '/dev/vhost-vdpa-3', ...vdpa } },
  mac: '02:00:00:aa:bb:cc',
  mtu: 1500,
  ...overrides,
});
const info = (...interfaces: unknown[]) => parseNetworkInfo(JSON.stringify({ interfaces }));

describe('network-info', () => {
  it('gives the vhost-vdpa device and MAC of a network', () => {
    expect(vdpaDeviceFor(info(entry()), 'net1')).toEqual({ network: 'net1', path: '/dev/vhost-vdpa-3', mac: '02:00:00:aa:bb:cc' });
  });
  it('accepts the vhost_vdpa driver name and a missing MAC (KubeVirt before 1.8)', () => {
    expect(vdpaDeviceFor(info(entry({ mac: undefined }, { driver: 'vhost_vdpa' })), 'net1')).toEqual({ network: 'net1', path: '/dev/vhost-vdpa-3' });
  });
  it('gives the PCI address of a hardware vDPA device (a VF), which the memory rule reads; a VDUSE device has none', () => {
    expect(vdpaDeviceFor(info(entry({}, { 'pci-address': '0000:65:00.2', 'parent-device': 'vdpa:0000:65:00.2' })), 'net1')?.pciAddress).toBe('0000:65:00.2');
    expect(vdpaDeviceFor(info(entry({}, { 'pci-address': '' })), 'net1')?.pciAddress).toBeUndefined();
  });
  it('answers undefined for a network not (yet) listed, so the caller can poll', () => {
    expect(vdpaDeviceFor(info(entry()), 'net2')).toBeUndefined();
    expect(vdpaDeviceFor(parseNetworkInfo('{}'), 'net1')).toBeUndefined();
  });
  it('refuses virtio-vdpa, naming the network and the driver', () => {
    expect(() => vdpaDeviceFor(info(entry({}, { driver: 'virtio' })), 'net1')).toThrow(
      'network-info network "net1": deviceInfo.vdpa.driver: got "virtio"; expected "vhost" or "vhost_vdpa"',
    );
  });
  it.each([
    ['no deviceInfo', entry({ deviceInfo: undefined }), 'downwardAPI: device-info'],
    ['a PCI device', entry({ deviceInfo: { type: 'pci', pci: {} } }), 'deviceInfo.type: got "pci"'],
    ['no vdpa section', entry({ deviceInfo: { type: 'vdpa' } }), 'deviceInfo.vdpa: missing'],
    ['no path', entry({}, { path: undefined }), 'deviceInfo.vdpa.path: missing'],
    ['a path outside /dev', entry({}, { path: 'vhost-vdpa-0' }), 'deviceInfo.vdpa.path: got "vhost-vdpa-0"'],
  ])('refuses %s', (_title, bad, message) => {
    expect(() => vdpaDeviceFor(info(bad), 'net1')).toThrow(message);
  });
  it.each([
    ['not JSON', '{"interfaces": [', 'network-info: document'],
    ['an array', '[]', 'expected a JSON object'],
    ['interfaces not an array', '{"interfaces": {}}', 'network-info: interfaces'],
    ['an entry without network', '{"interfaces": [{"deviceInfo": {}}]}', 'interfaces[0].network: missing'],
    ['a numeric MAC', '{"interfaces": [{"network": "n", "mac": 5}]}', 'interfaces[0].mac: got 5'],
  ])('refuses %s with a clear error', (_title, text, message) => {
    expect(() => parseNetworkInfo(text)).toThrow(InvalidInputError);
    expect(() => parseNetworkInfo(text)).toThrow(message);
  });
});
