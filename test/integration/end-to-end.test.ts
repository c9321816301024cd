// End to end, as KubeVirt expands a VM: each input goes through the webhook over HTTPS (informers on
// the local API server, which holds the Namespaces, NetworkAttachmentDefinitions, the KubeVirt CR,
// instancetypes and preferences), through KubeVirt's VM-to-VMI expansion (test/helpers/kubevirt-expansion.ts),
// through the real sidecar, one per binding as KubeVirt starts them, driven by the virt-launcher
// replay, and into libvirt's define. Each either boots in this model or is refused at admission
// with a message that names the fix.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { VirtualMachine, VirtualMachineInstance } from '../../api/kubevirt.ts';
import { createLoopbackPki } from '../../cli/loopback-pki.ts';
import { defineWithQemuDriver } from '../../cli/libvirt.ts';
import { InformerClusterView } from '../../webhook/cluster-cache.ts';
import { DEFAULT_CONFIG } from '../../webhook/config.ts';
import { createWebhookMetrics } from '../../webhook/metrics.ts';
import { startWebhookServer, type WebhookServer } from '../../webhook/server.ts';
import { applyIndependently, READY_KUBEVIRT } from '../helpers/admission.ts';
import { FakeApiServer } from '../helpers/fake-apiserver.ts';
import type { KubevirtExample } from '../../cli/kubevirt-files.ts';
import { readKubevirtFile } from '../helpers/kubevirt-files.ts';
import { startSidecar, type SidecarProcess } from '../helpers/hook-client.ts';
import { expandVm } from '../helpers/kubevirt-expansion.ts';
import { schemaErrors } from '../helpers/kubevirt-schema.ts';
import { describeWithLibvirt } from '../helpers/libvirt.ts';
import { noCloudData, replayBoot } from '../helpers/virt-launcher-replay.ts';
import { macFor } from '../helpers/vmis.ts';
import { NAMESPACE, VDUSE_RESOURCE, virtctlVm, vmWith } from '../helpers/vms.ts';
import { admissionAnswer, capturedLogger, decodedPatch, kubeConfigFor, postJson, reviewOf } from '../helpers/webhook-client.ts';
import { ClusterClients } from '../../cluster/clients.ts';

const INSTANCETYPES = '/apis/instancetype.kubevirt.io/v1beta1';
const instancetype = (kind: string, name: string, spec: object, namespace?: string) => ({ apiVersion: 'instancetype.kubevirt.io/v1beta1', kind, metadata: { name, ...(namespace ? { namespace } : {}) }, spec });
/** common-instancetypes' shapes. */
const MATCHERS = {
  'u1.medium': instancetype('VirtualMachineClusterInstancetype', 'u1.medium', { cpu: { guest: 1 }, memory: { guest: '4Gi' } }),
  'cx1.large': instancetype('VirtualMachineClusterInstancetype', 'cx1.large', { cpu: { guest: 2, dedicatedCPUPlacement: true }, memory: { guest: '4Gi' } }),
  clarge: instancetype('VirtualMachineInstancetype', 'clarge', { cpu: { guest: 2 }, memory: { guest: '2Gi' } }, NAMESPACE),
  fedora: instancetype('VirtualMachineClusterPreference', 'fedora', { devices: { preferredDiskBus: 'virtio', preferredInterfaceModel: 'virtio' } }),
  windows: instancetype('VirtualMachineClusterPreference', 'windows.2k22', { devices: { preferredInterfaceModel: 'e1000e', preferredDiskBus: 'sata' } }),
};

interface Input {
  title: string;
  object: VirtualMachine | VirtualMachineInstance;
  namespace: string;
  /** 'boots', or a fragment of the admission's refusal. */
  expected: 'boots' | { refused: string };
  /** The VMI networks that must come out as vdpa interfaces. */
  vdpa: string[];
}

function example(file: KubevirtExample): VirtualMachine | VirtualMachineInstance {
  const object = parseYaml(readKubevirtFile(`examples/${file}`)) as VirtualMachine;
  object.metadata = { ...object.metadata, namespace: NAMESPACE };
  return object;
}

function inputs(): Input[] {
  const virtctl = virtctlVm({ instancetype: 'u1.medium', preference: 'fedora' });
  virtctl.metadata!.namespace = 'primary';
  const noCloudInit = vmWith({ multus: { dataplane: 'ovs-vduse-a' }, withoutCloudInit: true, annotations: { 'vduse.kubevirt.io/coalesce': 'adaptive-rx' } });
  const coalesced = vmWith({ multus: { dataplane: 'ovs-vduse-a' }, annotations: { 'vduse.kubevirt.io/coalesce': 'adaptive-rx,rx-usecs=64' } });
  const dedicated = virtctlVm({ instancetype: 'cx1.large' });
  dedicated.metadata = { ...dedicated.metadata, name: 'vm-dedicated', labels: { 'vduse.kubevirt.io/enabled': 'true' } };
  dedicated.spec.template.spec!.networks = [{ name: 'default', pod: {} }, { name: 'dataplane', multus: { networkName: 'ovs-vduse-a' } }];
  dedicated.spec.template.spec!.domain.devices.interfaces = [{ name: 'default', masquerade: {} }, { name: 'dataplane', bridge: {} }];
  const windows = virtctlVm({ instancetype: 'u1.medium', preference: 'windows.2k22', cloudInit: false });
  windows.metadata = { ...windows.metadata, name: 'vm-windows', labels: { 'vduse.kubevirt.io/enabled': 'true' } };
  windows.spec.template.spec!.networks = [{ name: 'default', pod: {} }, { name: 'dataplane', multus: { networkName: 'ovs-vduse-a' } }, { name: 'legacy', multus: { networkName: 'sriov-net' } }];
  windows.spec.template.spec!.domain.devices.interfaces = [{ name: 'default', masquerade: {} }, { name: 'dataplane', bridge: {} }, { name: 'legacy', bridge: {} }];
  return [
    { title: 'example vm-cirros (pod network only)', object: example('vm-cirros.yaml'), namespace: NAMESPACE, expected: 'boots', vdpa: [] },
    { title: 'example vm-cirros-clarge (instancetype and its own guest memory)', object: example('vm-cirros-clarge.yaml'), namespace: NAMESPACE, expected: { refused: 'remove spec.template.spec.domain.memory.guest' }, vdpa: [] },
    { title: 'example vm-cirros-with-sidecar-hook-configmap', object: example('vm-cirros-with-sidecar-hook-configmap.yaml'), namespace: NAMESPACE, expected: 'boots', vdpa: [] },
    { title: 'example vmi-multus-ptp (a VDUSE NetworkAttachmentDefinition)', object: example('vmi-multus-ptp.yaml'), namespace: NAMESPACE, expected: 'boots', vdpa: ['ptp'] },
    { title: 'example vmi-multus-multiple-net', object: example('vmi-multus-multiple-net.yaml'), namespace: NAMESPACE, expected: 'boots', vdpa: ['ptp'] },
    { title: 'example vmi-sriov (not VDUSE)', object: example('vmi-sriov.yaml'), namespace: NAMESPACE, expected: 'boots', vdpa: [] },
    { title: 'example vmi-masquerade', object: example('vmi-masquerade.yaml'), namespace: NAMESPACE, expected: 'boots', vdpa: [] },
    { title: 'virtctl create vm, instancetype and preference, VDUSE primary network', object: virtctl, namespace: 'primary', expected: 'boots', vdpa: ['default'] },
    { title: 'no cloud-init volume, coalescing asked', object: noCloudInit, namespace: NAMESPACE, expected: 'boots', vdpa: ['dataplane'] },
    { title: 'cloud-init and coalescing', object: coalesced, namespace: NAMESPACE, expected: 'boots', vdpa: ['dataplane'] },
    { title: 'dedicated CPUs from the instancetype', object: dedicated, namespace: NAMESPACE, expected: 'boots', vdpa: ['dataplane'] },
    { title: 'Windows-style: a preference for e1000e, other interfaces on e1000e', object: windows, namespace: NAMESPACE, expected: 'boots', vdpa: ['dataplane'] },
  ];
}

/** The matchers a VM names, as the cluster has them. */
function matchersOf(object: VirtualMachine | VirtualMachineInstance) {
  const spec = object.spec as { instancetype?: { name: string }; preference?: { name: string } };
  const byName = (name: string | undefined) => Object.values(MATCHERS).find((matcher) => matcher.metadata.name === name);
  return { instancetype: byName(spec.instancetype?.name), preference: byName(spec.preference?.name) };
}

describeWithLibvirt('end to end: webhook over HTTPS, KubeVirt expansion, sidecar under the replay, libvirt define', () => {
  let api: FakeApiServer;
  let server: WebhookServer;
  let cluster: InformerClusterView;
  let ca: Buffer;
  const sidecars: SidecarProcess[] = [];

  beforeAll(async () => {
    const pki = createLoopbackPki();
    ca = pki.ca;
    api = await new FakeApiServer().start();
    api.setNamespace(NAMESPACE, { 'vduse.kubevirt.io/policy': 'enabled' });
    api.setNamespace('primary', { 'vduse.kubevirt.io/policy': 'enabled' }, { 'vduse.kubevirt.io/pod-network': 'vduse' });
    api.setNad(NAMESPACE, 'ovs-vduse-a', VDUSE_RESOURCE);
    api.setNad(NAMESPACE, 'ptp-conf', VDUSE_RESOURCE);
    api.setNad(NAMESPACE, 'sriov-net', 'intel.com/sriov');
    api.setKubevirt(READY_KUBEVIRT);
    for (const matcher of Object.values(MATCHERS)) {
      const plural = `${matcher.kind.toLowerCase()}s`;
      api.addObject(INSTANCETYPES, plural, matcher);
    }
    const logs = capturedLogger();
    const metrics = createWebhookMetrics();
    cluster = new InformerClusterView(new ClusterClients(kubeConfigFor(api.kubeconfigFile())), logs.log, metrics);
    server = await startWebhookServer({ port: 0, healthPort: 0, host: '127.0.0.1', tls: pki.issue('webhook-e2e'), cluster, config: () => DEFAULT_CONFIG, log: logs.log, metrics });
    cluster.start();
    for (let waited = 0; !server.ready() || (await cluster.kubevirt()).state !== 'found'; waited += 25) {
      if (waited > 10_000) throw new Error('caches did not sync');
      await sleep(25);
    }
  });

  afterAll(async () => {
    await Promise.all(sidecars.map((sidecar) => sidecar.stop()));
    cluster.stop();
    await server.close();
    await api.stop();
  });

  it.each(inputs().map((input) => [input.title, input] as const))('%s', async (_title, input) => {
    // 1. The webhook, over HTTPS.
    const kind = input.object.kind;
    const answer = await postJson(server.port, ca, JSON.stringify(reviewOf(input.object, { kind, namespace: input.namespace })));
    const response = admissionAnswer(answer);
    if (input.expected !== 'boots') {
      expect(response.allowed, response.status?.message).toBe(false);
      expect(response.status?.message).toContain(input.expected.refused);
      return;
    }
    expect(response.allowed, response.status?.message).toBe(true);
    const admitted = response.patch ? applyIndependently(input.object, decodedPatch(answer) as never) : input.object;
    expect(schemaErrors(kind === 'VirtualMachine' ? 'v1.VirtualMachine' : 'v1.VirtualMachineInstance', admitted)).toEqual([]);

    // 2. KubeVirt's expansion.
    const vmi = kind === 'VirtualMachine' ? expandVm(admitted as VirtualMachine, matchersOf(admitted)) : expandVm({ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: admitted.metadata!, spec: { template: { metadata: admitted.metadata, spec: admitted.spec } } } as VirtualMachine);
    const interfaces = vmi.spec.domain.devices.interfaces ?? [];
    const bindings = [...new Set(interfaces.flatMap((iface) => (iface.binding ? [iface.binding.name] : [])))];
    expect(interfaces.filter((iface) => iface.binding).map((iface) => iface.name)).toEqual(input.vdpa);

    // 3. One sidecar per binding, as KubeVirt starts them, under the replay.
    const dir = mkdtempSync(join(tmpdir(), 'vduse-e2e-'));
    const hooksDir = join(dir, 'hooks');
    const infoPath = join(dir, 'network-info');
    const withMacs = { ...vmi, spec: { ...vmi.spec, domain: { ...vmi.spec.domain, devices: { ...vmi.spec.domain.devices, interfaces: interfaces.map((iface, index) => ({ ...iface, macAddress: iface.macAddress ?? macFor(index) })) } } } };
    writeFileSync(infoPath, JSON.stringify({ interfaces: input.vdpa.map((network, index) => ({ network, deviceInfo: { type: 'vdpa', version: '1.1.0', vdpa: { driver: 'vhost', path: `/dev/vhost-vdpa-${index}` } } })) }));
    for (const [index, binding] of bindings.entries()) {
      const socketDir = join(hooksDir, `hook-sidecar-${index}`);
      mkdirSync(socketDir, { recursive: true });
      sidecars.push(await startSidecar(socketDir, ['--network-info', infoPath], { NETWORK_BINDING_PLUGIN_NAME: binding, CONTAINER_NAME: `hook-sidecar-${index}` }));
    }
    mkdirSync(hooksDir, { recursive: true });
    const cloudInitVolume = (vmi.spec.volumes ?? []).find((volume) => volume.cloudInitNoCloud !== undefined);
    const boot = await replayBoot({
      launcher: { hooksDir, sidecars: bindings.length, collectTimeoutMs: 10_000 },
      vmi: withMacs,
      cloudInit: cloudInitVolume ? noCloudData(cloudInitVolume.cloudInitNoCloud!.userData ?? '', vmi.metadata!.name) : null,
      domainXml: readKubevirtFile('domain_x86_64.xml'),
    });
    const domain = boot.domains.at(-1)!;
    for (const network of input.vdpa) expect(domain).toMatch(new RegExp(`<interface type="vdpa">[^]*?<alias name="ua-${network}"/>`));
    if (bindings.includes('vduse-cloudinit')) expect(boot.cloudInit!.UserData).toContain('ethtool -C');

    // 4. libvirt's own define.
    if (inject('libvirtStatus') === 'ready') {
      const verdict = await defineWithQemuDriver(domain);
      expect(verdict.message).not.toMatch(/error/i);
      expect(verdict.accepted).toBe(true);
    }
  });
});
