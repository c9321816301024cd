import type { Element } from '@xmldom/xmldom';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../api/errors.ts';
import { BUILT_IN_TUNING } from '../../api/tuning.ts';
import { rewriteDomain } from '../../sidecar/domain/rewrite.ts';
import { canonicalXml, interfaceByAlias, memoryBackingOf, parseXmlIndependently, rewrittenParts } from '../helpers/canonical-xml.ts';
import { KUBEVIRT_DOMAINS, readKubevirtFile } from '../helpers/kubevirt-files.ts';
import { devicePath, requestFor, rewriteCaseOutput, rewriteCases, withQemuCommandline } from '../helpers/rewrite-cases.ts';
import { macFor, masqueradeDefault, vduseInterface } from '../helpers/vmis.ts';

const attributesOf = (element: Element | undefined, tag: string): Record<string, string> => {
  const child = element?.getElementsByTagName(tag).item(0);
  if (!child) return {};
  return Object.fromEntries(Array.from({ length: child.attributes.length }, (_, i) => [child.attributes.item(i)!.name, child.attributes.item(i)!.value]));
};
const childTags = (element: Element | undefined): string[] =>
  Array.from(element?.childNodes ?? []).filter((node) => node.nodeType === 1).map((node) => (node as Element).tagName);

describe('domain rewrite on every scenario', () => {
  for (const scenario of rewriteCases()) {
    describe(`${scenario.fixture}: ${scenario.title}`, () => {
      const output = rewriteCaseOutput(scenario);
      const aliases = scenario.request.interfaces.map((name) => `ua-${name}`);

      it('leaves everything outside the converted interfaces and the memory backing with the same meaning', () => {
        const drop = rewrittenParts(aliases);
        expect(canonicalXml(output, drop)).toEqual(canonicalXml(scenario.request.domainXml, drop));
      });

      it('makes guest memory a shared file mapping when it converts a VDUSE interface, and keeps the rest of <memoryBacking>', () => {
        const before = memoryBackingOf(scenario.request.domainXml);
        const after = memoryBackingOf(output);
        const vduse = scenario.request.interfaces.filter((name) => scenario.request.devices.get(name)?.hardware !== true);
        if (vduse.length === 0) {
          expect(after).toEqual(before);
          return;
        }
        // hugepages without a source are hugetlbfs files already; plain memory gets a memfd.
        const source = before?.source ?? (before?.hugepages ? undefined : { type: 'memfd' });
        expect(after).toEqual({ ...before, ...(source ? { source } : {}), access: { mode: 'shared' } });
      });

      it('is idempotent', () => {
        expect(rewriteDomain({ ...scenario.request, domainXml: output })).toBe(output);
      });

      it('turns each chosen interface into exactly one vdpa interface on its device', () => {
        for (const name of scenario.request.interfaces) {
          const iface = interfaceByAlias(output, `ua-${name}`);
          expect(iface?.getAttribute('type')).toBe('vdpa');
          expect(attributesOf(iface, 'source')).toEqual({ dev: devicePath(name) });
          expect(attributesOf(iface, 'model')).toEqual({ type: 'virtio' });
          for (const removed of ['coalesce', 'mtu', 'vlan', 'target', 'backend', 'bandwidth']) expect(childTags(iface)).not.toContain(removed);
          expect(output.split(`<alias name="ua-${name}"/>`).length - 1).toBe(1);
        }
      });
    });
  }
});

describe('domain rewrite specifics', () => {
  const xml = readKubevirtFile('domain_x86_64.xml');
  const byTitle = (title: string) => {
    const scenario = rewriteCases().find((candidate) => candidate.fixture === 'domain_x86_64.xml' && candidate.title === title)!;
    return rewriteCaseOutput(scenario);
  };

  it('builds the interface the README shows, with 1024-descriptor rings and no queues attribute for one pair', () => {
    const iface = interfaceByAlias(byTitle('1 converted interface beside the masquerade one'), 'ua-net1');
    expect(childTags(iface)).toEqual(['source', 'mac', 'model', 'driver', 'alias', 'rom', 'address', 'acpi']);
    expect(attributesOf(iface, 'mac')).toEqual({ address: macFor(0) });
    expect(attributesOf(iface, 'driver')).toEqual({ name: 'vhost', rx_queue_size: '1024', tx_queue_size: '1024' });
    expect(attributesOf(iface, 'rom')).toEqual({ enabled: 'no' });
    expect(attributesOf(iface, 'address')).toEqual({ type: 'pci', domain: '0x0000', bus: '0x0a', slot: '0x00', function: '0x0' });
    expect(attributesOf(iface, 'acpi')).toEqual({ index: '2' });
  });

  it('appends interfaces absent from the domain after the existing ones, and leaves ua-default as KubeVirt made it', () => {
    const output = byTitle('4 converted interfaces');
    const interfaces = parseXmlIndependently(output).getElementsByTagName('interface');
    const aliases = Array.from({ length: interfaces.length }, (_, i) => interfaces.item(i)!.getElementsByTagName('alias').item(0)!.getAttribute('name'));
    expect(aliases).toEqual(['ua-default', 'ua-net1', 'ua-net2', 'ua-net3', 'ua-net4']);
    expect(interfaceByAlias(output, 'ua-default')?.getAttribute('type')).toBe('ethernet');
    expect(attributesOf(interfaceByAlias(output, 'ua-default'), 'model')).toEqual({ type: 'virtio-non-transitional' });
  });

  it('turns virtio-non-transitional into virtio when it replaces KubeVirt\'s interface', () => {
    const iface = interfaceByAlias(byTitle('the pod network rebound to the plugin replaces ua-default'), 'ua-default');
    expect(iface?.getAttribute('type')).toBe('vdpa');
    expect(attributesOf(iface, 'model')).toEqual({ type: 'virtio' });
  });

  it('fills the MAC from network-info, normalised, and carries boot order and link state', () => {
    const iface = interfaceByAlias(byTitle('MAC from network-info, boot order and link down'), 'ua-net1');
    expect(attributesOf(iface, 'mac')).toEqual({ address: '02:aa:bb:cc:dd:ee' });
    expect(attributesOf(iface, 'boot')).toEqual({ order: '2' });
    expect(attributesOf(iface, 'link')).toEqual({ state: 'down' });
    expect(childTags(iface)).not.toContain('rom');
  });

  it('writes ring sizes and queues from the tuning', () => {
    expect(attributesOf(interfaceByAlias(byTitle('rings 256/512 and 4 queue pairs'), 'ua-net1'), 'driver')).toEqual({
      name: 'vhost',
      rx_queue_size: '256',
      tx_queue_size: '512',
      queues: '4',
    });
    expect(attributesOf(interfaceByAlias(byTitle('queues=auto with multiqueue on 4 vCPUs'), 'ua-net2'), 'driver').queues).toBe('4');
  });

  it('queues=auto without networkInterfaceMultiqueue is one pair', () => {
    const output = rewriteDomain(requestFor(xml, [vduseInterface('net1', { macAddress: macFor(0) })], { tuning: { queues: 'auto' }, multiqueue: false }));
    expect(attributesOf(interfaceByAlias(output, 'ua-net1'), 'driver')).toEqual({ name: 'vhost', rx_queue_size: '1024', tx_queue_size: '1024' });
  });

  it('keeps xmlns:qemu and <qemu:commandline>', () => {
    const output = byTitle('qemu:commandline kept');
    expect(output).toContain('xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0"');
    expect(output).toMatch(/<qemu:commandline>\s*<qemu:env name="VDUSE_TEST" value="kept"\/>\s*<\/qemu:commandline>/);
    expect(withQemuCommandline(xml)).not.toBe(xml);
  });

  it('gives the same result on a later call fed the interface KubeVirt rebuilt (ethernet, no driver attributes, <mtu>)', () => {
    const request = requestFor(xml, [masqueradeDefault, vduseInterface('net1', { macAddress: macFor(0), pciAddress: '0000:0a:00.0' })]);
    const first = rewriteDomain(request);
    const rebuilt = first.replace(
      /<interface type="vdpa">[\s\S]*?<alias name="ua-net1"\/>[\s\S]*?<\/interface>/,
      '<interface type="ethernet"><source/><target dev="tap1" managed="no"/><model type="virtio-non-transitional"/>' +
        '<mtu size="1500"/><alias name="ua-net1"/><rom enabled="no"/><address type="pci" domain="0x0000" bus="0x0a" slot="0x00" function="0x0"/></interface>',
    );
    expect(rebuilt).not.toBe(first);
    expect(rebuilt).toContain('<mtu size="1500"/>');
    expect(rewriteDomain({ ...request, domainXml: rebuilt })).toBe(first);
  });

  it('collapses a duplicated alias into one interface', () => {
    const request = requestFor(xml, [vduseInterface('default', { macAddress: macFor(0) })]);
    const doubled = xml.replace(/(<interface type="ethernet">[\s\S]*?<\/interface>)/, '$1$1');
    expect(doubled.split('ua-default').length - 1).toBe(2);
    const output = rewriteDomain({ ...request, domainXml: doubled });
    expect(output.split('ua-default').length - 1).toBe(1);
  });
});

describe('domain rewrite refusals', () => {
  const xml = readKubevirtFile('hooks_domain.xml');
  const refusal = (run: () => unknown): InvalidInputError => {
    try {
      run();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidInputError);
      return error as InvalidInputError;
    }
    throw new Error('expected the rewrite to refuse');
  };

  it('refuses an e1000 interface, naming the VMI, the field and the value', () => {
    const error = refusal(() => rewriteDomain(requestFor(xml, [vduseInterface('net1', { model: 'e1000', macAddress: macFor(0) })])));
    expect(error.message).toBe(
      'VirtualMachineInstance mynamespace/testvmi: spec.domain.devices.interfaces[net1].model: got "e1000"; expected "virtio" or no model: vhost-vDPA devices are virtio-net',
    );
  });

  it('refuses an interface with no device, pointing at the NAD resource name and device-info', () => {
    const request = requestFor(xml, [vduseInterface('net1', { macAddress: macFor(0) })]);
    const error = refusal(() => rewriteDomain({ ...request, devices: new Map() }));
    expect(error.subject).toBe('VirtualMachineInstance mynamespace/testvmi');
    expect(error.message).toContain('interface net1');
    expect(error.message).toContain('k8s.v1.cni.cncf.io/resourceName');
    expect(error.message).toContain('downwardAPI: device-info');
  });

  it('refuses an interface with no MAC anywhere rather than let libvirt pick a random one', () => {
    const error = refusal(() => rewriteDomain(requestFor(xml, [vduseInterface('net1')])));
    expect(error.field).toBe('spec.domain.devices.interfaces[net1].macAddress');
    expect(error.message).toContain('network-info');
  });

  it.each([
    ['macAddress', { macAddress: '01:00:5e:00:00:01' }, 'unicast MAC'],
    ['macAddress', { macAddress: 'not-a-mac' }, 'unicast MAC'],
    ['pciAddress', { macAddress: macFor(0), pciAddress: '0000:0a:20.0' }, 'PCI address'],
    ['acpiIndex', { macAddress: macFor(0), acpiIndex: 16384 }, 'from 1 to 16383'],
    ['bootOrder', { macAddress: macFor(0), bootOrder: 0 }, 'from 1 to'],
    ['state', { macAddress: macFor(0), state: 'sideways' }, 'one of up, down, absent'],
  ])('refuses a bad %s', (field, extra, expected) => {
    const error = refusal(() => rewriteDomain(requestFor(xml, [vduseInterface('net1', extra)])));
    expect(error.field).toBe(`spec.domain.devices.interfaces[net1].${field}`);
    expect(error.message).toContain(expected);
  });

  it('refuses an interface the VMI does not have', () => {
    const request = requestFor(xml, [vduseInterface('net1', { macAddress: macFor(0) })]);
    const error = refusal(() => rewriteDomain({ ...request, interfaces: ['net9'] }));
    expect(error.message).toContain('"net9"');
  });

  it.each([
    ['malformed XML', '<domain><devices></domain>', 'well-formed XML'],
    ['another root', '<network><name>x</name></network>', '<domain>'],
    ['no devices', '<domain type="kvm"><name>x</name></domain>', 'exactly one <devices>'],
    ['a DOCTYPE', '<!DOCTYPE domain [<!ENTITY x "y">]><domain><devices/></domain>', 'no DTD'],
    ['empty input', '', 'XML'],
  ])('refuses %s with a clear error', (_title, domainXml, expected) => {
    const request = requestFor(xml, [vduseInterface('net1', { macAddress: macFor(0) })]);
    const error = refusal(() => rewriteDomain({ ...request, domainXml }));
    expect(error.subject).toBe('domain XML');
    expect(error.message).toContain(expected);
  });

  it('converts nothing and keeps the meaning when no interface is chosen', () => {
    for (const fixture of KUBEVIRT_DOMAINS) {
      const domainXml = readKubevirtFile(fixture);
      const output = rewriteDomain({ ...requestFor(domainXml, [masqueradeDefault]), tuning: BUILT_IN_TUNING });
      expect(canonicalXml(output)).toEqual(canonicalXml(domainXml));
    }
  });
});
