// The rewrite scenarios whose output the unit tests check for structure and the libvirt suite
// hands to libvirt's qemu driver: one table, so every XML the tests make is also defined.
import type { Interface } from '../../api/kubevirt.ts';
import { BUILT_IN_TUNING, type Tuning } from '../../api/tuning.ts';
import { type DomainRewriteRequest, rewriteDomain } from '../../sidecar/domain/rewrite.ts';
import { KUBEVIRT_DOMAINS, readKubevirtFile } from './kubevirt-files.ts';
import { macFor, masqueradeDefault, vduseInterface, vmiWith } from './vmis.ts';

export const devicePath = (name: string): string => `/var/run/kubevirt-hooks/hook-sidecar-0/vduse/link-${name}`;

export interface RewriteCase {
  title: string;
  fixture: (typeof KUBEVIRT_DOMAINS)[number];
  request: DomainRewriteRequest;
}

/** Converts every interface bound to the plugin; each gets a device, with network-info MACs where given. */
export function requestFor(
  domainXml: string,
  interfaces: Interface[],
  options: { tuning?: Partial<Tuning>; networkInfoMacs?: Record<string, string>; multiqueue?: boolean; hardware?: readonly string[] } = {},
): DomainRewriteRequest {
  const converted = interfaces.filter((iface) => iface.binding?.name === 'vduse').map((iface) => iface.name);
  return {
    domainXml,
    vmi: vmiWith(interfaces, options.multiqueue !== undefined ? { multiqueue: options.multiqueue } : {}),
    tuning: { ...BUILT_IN_TUNING, ...options.tuning },
    interfaces: converted,
    devices: new Map(
      converted.map((name) => {
        const mac = options.networkInfoMacs?.[name];
        return [name, { path: devicePath(name), ...(mac ? { mac } : {}), ...(options.hardware?.includes(name) ? { hardware: true } : {}) }];
      }),
    ),
  };
}

const secondary = (count: number): Interface[] =>
  Array.from({ length: count }, (_, index) =>
    vduseInterface(`net${index + 1}`, { macAddress: macFor(index), pciAddress: `0000:${(0x0a + index).toString(16).padStart(2, '0')}:00.0`, acpiIndex: index + 2 }),
  );

/** Gives the fixture's domain this many vCPUs (as cores, to keep the topology consistent), for queues=auto. */
export const withVcpus = (xml: string, vcpus: number): string =>
  xml
    .replace(/<vcpu placement="static">\d+<\/vcpu>/, `<vcpu placement="static">${vcpus}</vcpu>`)
    .replace(/<topology sockets="1" cores="1" threads="1">/, `<topology sockets="1" cores="${vcpus}" threads="1">`);

/** Gives the fixture's domain a <memoryBacking> with these children, after its <memory>. */
export const withMemoryBacking = (xml: string, children: string): string => xml.replace(/(<memory unit="b">\d+<\/memory>)/, `$1\n  <memoryBacking>${children}</memoryBacking>`);

/** Gives the fixture's domain one guest NUMA cell holding its vCPU and memory, as KubeVirt's converter adds for memfd. */
export const withNumaCell = (xml: string, attributes = ''): string =>
  xml.replace(/<cpu([^>]*)>/, `<cpu$1><numa><cell id="0" cpus="0" memory="8192" unit="KiB"${attributes}/></numa>`);

/** Adds a qemu:commandline block, which the rewrite must keep with its namespace. */
export const withQemuCommandline = (xml: string): string =>
  xml.replace('</domain>', '  <qemu:commandline>\n    <qemu:env name="VDUSE_TEST" value="kept"/>\n  </qemu:commandline>\n</domain>');

export function rewriteCases(): RewriteCase[] {
  return KUBEVIRT_DOMAINS.flatMap((fixture) => {
    const xml = readKubevirtFile(fixture);
    const cases: Omit<RewriteCase, 'fixture'>[] = [
      { title: '1 converted interface beside the masquerade one', request: requestFor(xml, [masqueradeDefault, ...secondary(1)]) },
      { title: '2 converted interfaces', request: requestFor(xml, [masqueradeDefault, ...secondary(2)]) },
      { title: '4 converted interfaces', request: requestFor(xml, [masqueradeDefault, ...secondary(4)]) },
      {
        title: 'the pod network rebound to the plugin replaces ua-default',
        request: requestFor(xml, [vduseInterface('default', { macAddress: macFor(0) })]),
      },
      {
        title: 'MAC from network-info, boot order and link down',
        request: requestFor(xml, [masqueradeDefault, vduseInterface('net1', { bootOrder: 2, state: 'down' })], {
          networkInfoMacs: { net1: '02:AA:BB:CC:DD:EE' },
        }),
      },
      {
        title: 'rings 256/512 and 4 queue pairs',
        request: requestFor(xml, [masqueradeDefault, ...secondary(1)], { tuning: { rxQueueSize: 256, txQueueSize: 512, queues: 4 } }),
      },
      {
        title: 'queues=auto with multiqueue on 4 vCPUs',
        request: requestFor(withVcpus(xml, 4), [masqueradeDefault, ...secondary(2)], { tuning: { queues: 'auto' }, multiqueue: true }),
      },
      {
        title: 'hugepages without a source (kubevirt.io/memfd: "false"): hugetlbfs files, made shared',
        request: requestFor(withMemoryBacking(xml, '<hugepages><page size="2048" unit="KiB"/></hugepages>'), [masqueradeDefault, ...secondary(1)]),
      },
      {
        title: "hugepages on memfd (KubeVirt's default for hugepages), allocation and nosharepages kept",
        request: requestFor(withMemoryBacking(xml, '<hugepages/><nosharepages/><source type="memfd"/><allocation mode="immediate"/>'), [masqueradeDefault, ...secondary(1)]),
      },
      {
        title: 'a guest NUMA cell without memAccess: it inherits the shared backing',
        request: requestFor(withNumaCell(xml), [masqueradeDefault, ...secondary(2)]),
      },
      {
        title: 'hardware vDPA only (device-info with a PCI address): memory left as it was',
        request: requestFor(xml, [masqueradeDefault, ...secondary(2)], { hardware: ['net1', 'net2'] }),
      },
      {
        title: 'hardware vDPA beside VDUSE: shared, for the VDUSE device',
        request: requestFor(xml, [masqueradeDefault, ...secondary(2)], { hardware: ['net1'] }),
      },
      {
        title: 'qemu:commandline kept',
        request: requestFor(withQemuCommandline(xml), [masqueradeDefault, ...secondary(1)]),
      },
    ];
    return cases.map((scenario) => ({ ...scenario, fixture }));
  });
}

export const rewriteCaseOutput = (scenario: RewriteCase): string => rewriteDomain(scenario.request);
