// The project on a real control plane: kube-apiserver and etcd, KubeVirt's virt-api and
// virt-controller (test/cluster/cluster.ts), installed as docs/install.md says. Each case reads back
// what KubeVirt really made. Played by the rig, because no kubelet or kube-controller-manager runs
// here: a Node's status with the VDUSE resource, the webhook Service's EndpointSlice, and the
// `default` ServiceAccount of each test Namespace. virt-launcher Pods stay Pending.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { pino } from 'pino';
import type { VirtualMachine } from '../../api/kubevirt.ts';
import { pluginBindingNames } from '../../api/names.ts';
import { parseQuantity, wholeBytes } from '../../api/quantity.ts';
import { SIDECAR_MEMORY_LIMIT } from '../../api/sidecar-resources.ts';
import { ClusterClients } from '../../cluster/clients.ts';
import { createWebhookMetrics } from '../../webhook/metrics.ts';
import { InformerClusterView } from '../../webhook/cluster-cache.ts';
import { instancetypeFacts } from '../../webhook/instancetypes.ts';
import { FakeApiServer } from '../helpers/fake-apiserver.ts';
import { projectFile } from '../helpers/fixtures.ts';
import { kubeConfigFor } from '../helpers/webhook-client.ts';
import { expandVm } from '../helpers/kubevirt-expansion.ts';
import { API_SERVER, CLUSTER_CA, KUBECONFIG, kubectl as kubectlIn, readState, renewWebhookCertificate, startWebhook, stopPart } from './cluster.ts';

const status = inject('clusterStatus');
const kubectl = (args: string[], input?: string) => kubectlIn(readState()!.bins.kube, args, input);
const json = <T>(args: string[]): T => JSON.parse(kubectl([...args, "-o", "json"])) as T; // eslint-disable-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names what it reads

interface Container {
  name: string;
  image: string;
  env?: { name: string; value?: string }[];
  resources: { limits?: Record<string, string>; requests?: Record<string, string> };
}
interface Pod {
  metadata: { name: string; annotations: Record<string, string> };
  spec: { containers: Container[]; volumes: { name: string; downwardAPI?: { items: { path: string; fieldRef: { fieldPath: string } }[] } }[] };
}
interface Vmi {
  metadata: { annotations?: Record<string, string> };
  spec: { domain: { devices: { interfaces: { name: string; binding?: { name: string }; model?: string }[] }; memory?: { reservedOverhead?: { addedOverhead?: string; memLock?: string } } } };
}

async function until<T>(what: string, read: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = (() => {
      try {
        return read();
      } catch {
        return undefined;
      }
    })();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}

/** A Namespace with its labels, the example VDUSE NAD and the default ServiceAccount (played: the token controller's). */
function namespace(name: string, labels: Record<string, string> = {}, annotations: Record<string, string> = {}): string {
  kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels, annotations } }));
  const nad = parseYaml(readFileSync(projectFile('deploy', 'examples', 'network-attachment-definition.yaml'), 'utf8')) as { metadata: { namespace?: string } };
  nad.metadata.namespace = name;
  kubectl(['apply', '-f', '-'], JSON.stringify(nad));
  kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: name } }));
  return name;
}

/* eslint-disable @typescript-eslint/no-unsafe-member-access --
   Loose on purpose: the tests change the example VM in place; the API servers check it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type LooseVm = Record<string, any>;

/** kubectl create of the example VM (deploy/examples/vm-plain.yaml) in a Namespace, with changes; kubectl's own result. */
function createExampleVm(ns: string, change: (vm: LooseVm) => void, extraArgs: string[] = []): { name: string; status: number | null; stdout: string; stderr: string } {
  const vm = parseYaml(readFileSync(projectFile('deploy', 'examples', 'vm-plain.yaml'), 'utf8')) as LooseVm;
  vm.metadata.namespace = ns;
  change(vm);
  const result = spawnSync(join(readState()!.bins.kube, 'kubectl'), ['--kubeconfig', KUBECONFIG, 'create', ...extraArgs, '-f', '-'], { input: stringify(vm), encoding: 'utf8' });
  return { name: vm.metadata.name as string, status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The example VM created, returning what kubectl printed on stderr (the warnings); throws on a denial. */
function createVm(ns: string, change: (vm: LooseVm) => void = () => undefined): { name: string; warnings: string } {
  const result = createExampleVm(ns, change);
  if (result.status !== 0) throw new Error(result.stderr.trim());
  return { name: result.name, warnings: result.stderr };
}

/** The VMI and the virt-launcher Pod virt-controller made for the VM. */
async function launched(ns: string, name: string): Promise<{ vmi: Vmi; pod: Pod }> {
  const vmi = await until(`VMI ${ns}/${name}`, () => json<Vmi>(['get', 'vmi', name, '-n', ns]));
  const pod = await until(`virt-launcher Pod of ${ns}/${name}`, () => json<{ items: Pod[] }>(['get', 'pods', '-n', ns, '-l', `vm.kubevirt.io/name=${name}`]).items[0]);
  return { vmi, pod };
}

const sidecars = (pod: Pod) => pod.spec.containers.filter((container) => container.name.startsWith('hook-sidecar-'));
const env = (container: Container, name: string) => container.env?.find((variable) => variable.name === name)?.value;
const doctor = (...args: string[]) => spawnSync(process.execPath, [projectFile('cli', 'main.ts'), 'doctor', '--kubeconfig', KUBECONFIG, '--output', 'json', ...args], { encoding: 'utf8' });

if (status !== 'ready') {
  const required = status.startsWith('missing:');
  describe('the real control plane', () => {
    it(required ? 'has what it needs' : 'comes up', () => {
      if (required && process.env.CI !== 'true') {
        console.warn(`\n*** SKIPPING the real control plane suite: ${status} ***\n`);
        return;
      }
      throw new Error(status);
    });
  });
} else {
  const version = readState()!.kubevirt;

  describe(`the install, on KubeVirt v${version}`, () => {
    it('the API server took every object of the overlay, the webhook configuration with its CEL matchConditions', () => {
      const configuration = json<{ webhooks: { name: string; matchConditions?: { name: string; expression: string }[]; clientConfig: { caBundle?: string } }[] }>(['get', 'mutatingwebhookconfiguration', 'kubevirt-vduse']);
      expect(configuration.webhooks.length).toBeGreaterThanOrEqual(2);
      expect(configuration.webhooks.some((webhook) => (webhook.matchConditions ?? []).length > 0)).toBe(true);
      for (const object of ['namespace/vduse-system', 'serviceaccount/kubevirt-vduse-webhook', 'clusterrole/kubevirt-vduse-webhook', 'deployment/kubevirt-vduse-webhook', 'networkpolicy/kubevirt-vduse-webhook', 'poddisruptionbudget/kubevirt-vduse-webhook']) {
        const [kind, name] = object.split('/');
        expect(() => kubectl(['get', kind!, name!, ...(kind === 'namespace' || kind === 'clusterrole' ? [] : ['-n', 'vduse-system'])]), object).not.toThrow();
      }
    });

    it('doctor passes on it, with the warnings that belong to the version', () => {
      const result = doctor();
      const report = JSON.parse(result.stdout) as { passed: boolean; checks: { check: string; status: string; detail: string }[] };
      expect(report.passed, result.stdout).toBe(true);
      expect(report.checks.find((check) => check.check === 'API server')?.detail).toContain('runs Kubernetes v1.34.2');
      expect(report.checks.find((check) => check.check === 'KubeVirt version')?.detail).toContain(`runs v${version}`);
      expect(report.checks.find((check) => check.check === 'live migration')?.status).toBe(version.startsWith('1.8') ? 'warn' : 'ok');
    });

    it.each([
      ['feature gate', 'the ReservedOverheadMemlock gate is gone', { op: 'replace', path: '/spec/configuration/developerConfiguration/featureGates', value: [] }, 'lacks the ReservedOverheadMemlock feature gate'],
      ['binding registration', 'the vduse binding is gone', { op: 'remove', path: '/spec/configuration/network/binding/vduse' }, 'has no network binding "vduse"'],
      ['sidecar resources', 'the sidecar memory entry is gone', { op: 'replace', path: '/spec/configuration/supportContainerResources', value: [] }, 'to 64M (its default)'],
    ])('doctor fails %s when %s, naming the fix', (check, _what, operation, detail) => {
      const before = kubectl(['get', 'kubevirt', 'kubevirt', '-n', 'kubevirt', '-o', 'json']);
      kubectl(['patch', 'kubevirt', 'kubevirt', '-n', 'kubevirt', '--type', 'json', '-p', JSON.stringify([operation])]);
      try {
        const result = doctor();
        expect(result.status).toBe(1);
        const failed = (JSON.parse(result.stdout) as { checks: { check: string; status: string; detail: string; fix?: string }[] }).checks.filter((entry) => entry.status === 'fail');
        expect(failed.map((entry) => entry.check)).toEqual([check]);
        expect(failed[0]!.detail).toContain(detail);
        expect(failed[0]!.fix).toContain('deploy/kubevirt/register-vduse.jq');
      } finally {
        const restored = JSON.parse(before) as { spec: unknown };
        kubectl(['patch', 'kubevirt', 'kubevirt', '-n', 'kubevirt', '--type', 'merge', '-p', JSON.stringify({ spec: restored.spec })]);
        // A merge patch cannot put back a list: the spec's lists go back whole with a JSON patch.
        kubectl(['patch', 'kubevirt', 'kubevirt', '-n', 'kubevirt', '--type', 'json', '-p', JSON.stringify([{ op: 'replace', path: '/spec', value: restored.spec }])]);
      }
    });
  });

  describe(`VMs, admitted by the webhook and by virt-api, launched by virt-controller (KubeVirt v${version})`, () => {
    const enabled = 'telco-enabled';
    beforeAll(() => void namespace(enabled, { 'vduse.kubevirt.io/policy': 'enabled' }));

    it('a VM on a VDUSE Multus network: the VMI has the binding, model and tuning; the Pod has our sidecar, its memory and the device-info', async () => {
      const { name, warnings } = createVm(enabled, (vm) => (vm.metadata.name = 'vm-multus'));
      expect(warnings).toContain('Warning: vduse: interfaces dataplane now use binding vduse');
      const { vmi, pod } = await launched(enabled, name);
      const dataplane = vmi.spec.domain.devices.interfaces.find((iface) => iface.name === 'dataplane')!;
      expect(dataplane).toMatchObject({ binding: { name: 'vduse' }, model: 'virtio' });
      expect(vmi.metadata.annotations).toMatchObject({ 'vduse.kubevirt.io/rx-queue-size': '1024', 'vduse.kubevirt.io/tx-queue-size': '1024', 'vduse.kubevirt.io/queues': '1' });
      expect(vmi.spec.domain.memory?.reservedOverhead).toMatchObject({ memLock: 'Required', addedOverhead: '1Gi' });

      const [sidecar, ...others] = sidecars(pod);
      expect(others).toEqual([]);
      const registered = json<{ spec: { configuration: { network: { binding: Record<string, { sidecarImage: string }> } } } }>(['get', 'kubevirt', 'kubevirt', '-n', 'kubevirt']).spec.configuration.network.binding;
      expect(sidecar!.image).toBe(registered.vduse!.sidecarImage);
      expect(env(sidecar!, 'CONTAINER_NAME')).toBe(sidecar!.name);
      // KubeVirt 1.8 does not tell a sidecar its binding; 1.9 does.
      expect(env(sidecar!, 'NETWORK_BINDING_PLUGIN_NAME')).toBe(version.startsWith('1.8') ? undefined : 'vduse');
      // The install's sidecar memory: a limit, which the API server also makes the request.
      expect(sidecar!.resources.limits?.memory).toBe(SIDECAR_MEMORY_LIMIT);
      expect(sidecar!.resources.requests?.memory).toBe(SIDECAR_MEMORY_LIMIT);
      // The compute container's memory includes the memlock overhead the webhook wrote.
      const compute = pod.spec.containers.find((container) => container.name === 'compute')!;
      expect(compute.resources.requests?.['vduse.io/vduse']).toBe('1');
      expect(memoryBytes(compute.resources.requests!.memory!)).toBeGreaterThan(memoryBytes('2Gi') + memoryBytes('1Gi'));
      const deviceInfo = pod.spec.volumes.find((volume) => volume.downwardAPI?.items.some((item) => item.path === 'network-info'));
      expect(deviceInfo?.downwardAPI?.items.find((item) => item.path === 'network-info')?.fieldRef.fieldPath).toBe("metadata.annotations['kubevirt.io/network-info']");
    });

    it('with cloud-init and coalescing: the vduse-cloudinit binding and its own image', async () => {
      const { name } = createVm(enabled, (vm) => {
        vm.metadata.name = 'vm-coalesced';
        vm.metadata.annotations = { 'vduse.kubevirt.io/coalesce': 'adaptive-rx' };
      });
      const { vmi, pod } = await launched(enabled, name);
      expect(vmi.spec.domain.devices.interfaces.find((iface) => iface.name === 'dataplane')?.binding?.name).toBe(pluginBindingNames('vduse')[1]);
      const registered = json<{ spec: { configuration: { network: { binding: Record<string, { sidecarImage: string }> } } } }>(['get', 'kubevirt', 'kubevirt', '-n', 'kubevirt']).spec.configuration.network.binding;
      expect(sidecars(pod).map((container) => container.image)).toEqual([registered['vduse-cloudinit']!.sidecarImage]);
      expect(registered['vduse-cloudinit']!.sidecarImage).toMatch(/\/sidecar-cloudinit:/);
    });

    it('a VM that opts out keeps its interfaces, and in a disabled Namespace a VM that asks is refused with our message', async () => {
      const { name } = createVm(enabled, (vm) => {
        vm.metadata.name = 'vm-opted-out';
        vm.metadata.labels = { 'vduse.kubevirt.io/enabled': 'false' };
      });
      const { vmi, pod } = await launched(enabled, name);
      expect(vmi.spec.domain.devices.interfaces.some((iface) => iface.binding !== undefined)).toBe(false);
      expect(sidecars(pod)).toEqual([]);
      const disabled = namespace('telco-disabled', { 'vduse.kubevirt.io/policy': 'disabled' });
      expect(() => createVm(disabled, (vm) => (vm.metadata.labels = { 'vduse.kubevirt.io/enabled': 'true' }))).toThrow(/admission webhook "[^"]*vduse[^"]*" denied the request: .*Namespace telco-disabled has vduse.kubevirt.io\/policy=disabled/);
    });

    it.each([
      ['the feature gate off', [{ op: 'replace', path: '/spec/configuration/developerConfiguration/featureGates', value: [] }], (vm: LooseVm) => vm, /lacks the ReservedOverheadMemlock feature gate/],
      ['the binding not registered', [{ op: 'remove', path: '/spec/configuration/network/binding/vduse' }], (vm: LooseVm) => vm, /has no network binding "vduse"/],
      [
        'the sidecar memory too small for a dedicated-CPU VM',
        [{ op: 'replace', path: '/spec/configuration/supportContainerResources', value: [] }],
        (vm: LooseVm) => {
          vm.spec.template.spec.domain.cpu = { cores: 2, dedicatedCpuPlacement: true };
          return vm;
        },
        /limits the sidecars of VMs with dedicated CPUs or Guaranteed QoS to 64M \(its default\)/,
      ],
    ])('denials come from our webhook with our message, not from virt-api: %s', async (_title, operations, shape, message) => {
      const before = kubectl(['get', 'kubevirt', 'kubevirt', '-n', 'kubevirt', '-o', 'json']);
      kubectl(['patch', 'kubevirt', 'kubevirt', '-n', 'kubevirt', '--type', 'json', '-p', JSON.stringify(operations)]);
      try {
        // The webhook learns the change through its watch on the KubeVirt CR.
        const refused = await until('the webhook to see the change', () => {
          const result = admits(enabled, (vm) => shape(vm));
          return result.ok ? undefined : result.output;
        });
        expect(refused).toMatch(/admission webhook "[^"]*vduse[^"]*" denied the request: VirtualMachine telco-enabled\/vm-plain cannot run on VDUSE here yet: /);
        expect(refused).toMatch(message);
      } finally {
        kubectl(['patch', 'kubevirt', 'kubevirt', '-n', 'kubevirt', '--type', 'json', '-p', JSON.stringify([{ op: 'replace', path: '/spec', value: (JSON.parse(before) as { spec: unknown }).spec }])]);
      }
      await until('the webhook to see the registration back', () => (admits(enabled, (vm) => shape(vm)).ok ? true : undefined));
    });

    it('without cloud-init, coalescing asked: the plain binding, and the warning that coalescing is not delivered', async () => {
      const { name, warnings } = createVm(enabled, (vm) => {
        vm.metadata.name = 'vm-no-cloud-init';
        vm.metadata.annotations = { 'vduse.kubevirt.io/coalesce': 'adaptive-rx' };
        vm.spec.template.spec.volumes = (vm.spec.template.spec.volumes as { cloudInitNoCloud?: unknown }[]).filter((volume) => volume.cloudInitNoCloud === undefined);
        vm.spec.template.spec.domain.devices.disks = (vm.spec.template.spec.domain.devices.disks as { name: string }[]).filter((disk) => disk.name !== 'cloudinitdisk');
      });
      expect(warnings).toContain('Warning: vduse: coalescing not delivered: it needs a cloud-init volume');
      const { vmi, pod } = await launched(enabled, name);
      expect(vmi.spec.domain.devices.interfaces.find((iface) => iface.name === 'dataplane')?.binding?.name).toBe('vduse');
      expect(sidecars(pod).map((container) => container.image)).toEqual([kubectl(['get', 'kubevirt', 'kubevirt', '-n', 'kubevirt', '-o', 'jsonpath={.spec.configuration.network.binding.vduse.sidecarImage}'])]);
    });

    it("the dedicated-CPU network instancetype n1.medium from KubeVirt's bundled set: the sidecar gets KubeVirt's cpu 200m and the install's memory, the overhead lands in ordinary memory", async () => {
      const ns = namespace('telco-n1', { 'vduse.kubevirt.io/policy': 'enabled' }, { 'vduse.kubevirt.io/pod-network': 'vduse' });
      const manifest = execFileSync(join(readState()!.bins.kubevirt, 'virtctl'), ['create', 'vm', '--name', 'vm-n1', '--instancetype', 'n1.medium', '--preference', 'fedora', '--volume-containerdisk', 'src:containerdisks/fedora:41', '--run-strategy', 'Always'], { encoding: 'utf8' });
      kubectl(['create', '-n', ns, '-f', '-'], manifest);
      const { vmi, pod } = await launched(ns, 'vm-n1');
      expect(vmi.spec.domain.memory?.reservedOverhead).toEqual({ memLock: 'Required', addedOverhead: '1Gi' });
      const [sidecar] = sidecars(pod);
      expect(sidecar!.resources).toEqual({ limits: { cpu: '200m', memory: SIDECAR_MEMORY_LIMIT }, requests: { cpu: '200m', memory: SIDECAR_MEMORY_LIMIT } });
      const compute = pod.spec.containers.find((container) => container.name === 'compute')!;
      // The guest is in 1Gi hugepages; the memlock overhead is ordinary memory on top of KubeVirt's own.
      expect(compute.resources.requests?.['hugepages-1Gi']).toBe('4Gi');
      expect(memoryBytes(compute.resources.requests!.memory!)).toBeGreaterThan(memoryBytes('1Gi'));
    });

    it('Guaranteed QoS from limits alone (virt-api copies limits.cpu into requests.cpu): the sidecar is limited too', async () => {
      const { name } = createVm(enabled, (vm) => {
        vm.metadata.name = 'vm-limits';
        vm.spec.template.spec.domain.resources = { limits: { cpu: '2', memory: '3Gi' } };
      });
      const { pod } = await launched(enabled, name);
      expect(sidecars(pod)[0]!.resources).toEqual({ limits: { cpu: '200m', memory: SIDECAR_MEMORY_LIMIT }, requests: { cpu: '200m', memory: SIDECAR_MEMORY_LIMIT } });
    });

    it('the expansion model (test/helpers/kubevirt-expansion.ts) gives the VMI virt-controller made, on what it models', () => {
      // Run after the VM cases above: the same admitted VMs, through the model and through KubeVirt.
      const projection = (spec: Vmi['spec'] & { networks?: unknown; domain: { memory?: { guest?: string }; cpu?: { dedicatedCpuPlacement?: boolean }; devices: { autoattachPodInterface?: boolean } } }) => ({
        interfaces: spec.domain.devices.interfaces,
        networks: spec.networks,
        guest: spec.domain.memory?.guest,
        reservedOverhead: spec.domain.memory?.reservedOverhead,
        dedicatedCpuPlacement: spec.domain.cpu?.dedicatedCpuPlacement ?? false,
      });
      const cases = [[enabled, 'vm-multus'], [enabled, 'vm-coalesced'], ['telco-n1', 'vm-n1']] as const;
      for (const [ns, name] of cases) {
        const vm = json<VirtualMachine>(['get', 'vm', name, '-n', ns]);
        const matcher = (kind: 'instancetype' | 'preference') => {
          const reference = (vm.spec as { instancetype?: { name: string }; preference?: { name: string } })[kind];
          return reference ? json<{ spec: never }>(['get', kind === 'instancetype' ? 'virtualmachineclusterinstancetype' : 'virtualmachineclusterpreference', reference.name]) : undefined;
        };
        const modelled = expandVm(vm, { instancetype: matcher('instancetype'), preference: matcher('preference') });
        const real = json<Vmi>(['get', 'vmi', name, '-n', ns]);
        expect(projection(modelled.spec as never), `${ns}/${name}`).toEqual(projection(real.spec as never));
      }
    });

    it('the local list/watch API server (test/helpers/fake-apiserver.ts) gives the webhook the same lookups as the real one, for the same objects', async () => {
      const lookups = async (clients: ClusterClients) => {
        const view = new InformerClusterView(clients, pino({ level: 'silent' }), createWebhookMetrics());
        view.start();
        try {
          await until('the informers to sync', () => (view.synced ? true : undefined));
          for (let waited = 0; (await view.kubevirt()).state !== 'found'; waited += 100) {
            if (waited > 10_000) throw new Error('the KubeVirt CR watch did not sync');
            await sleep(100);
          }
          return {
            namespace: await view.namespace(enabled),
            missingNamespace: await view.namespace('no-such-namespace'),
            nad: await view.nad(`${enabled}/ovs-dpdk-vduse`),
            missingNad: await view.nad(`${enabled}/no-such-nad`),
            kubevirt: await view.kubevirt(),
            // What the decision reads of it (the raw objects differ in server-kept metadata).
            instancetype: await view
              .matcher({ kind: 'instancetype', field: 'spec.instancetype', described: 'n1.medium', source: { from: 'object', plural: 'virtualmachineclusterinstancetypes', kind: 'VirtualMachineClusterInstancetype', namespace: undefined, name: 'n1.medium' } })
              .then((lookup) => (lookup.state === 'found' ? { state: lookup.state, facts: instancetypeFacts(lookup.value) } : lookup)),
          };
        } finally {
          view.stop();
        }
      };
      const real = await lookups(new ClusterClients(kubeConfigFor(KUBECONFIG)));
      // The same objects, read from the real cluster, in the local API server.
      const fake = await new FakeApiServer().start();
      try {
        const ns = json<{ metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } }>(['get', 'namespace', enabled]);
        fake.setNamespace(enabled, ns.metadata.labels, ns.metadata.annotations);
        const nad = json<{ metadata: { annotations?: Record<string, string> } }>(['get', 'network-attachment-definitions', 'ovs-dpdk-vduse', '-n', enabled]);
        fake.setNad(enabled, 'ovs-dpdk-vduse', nad.metadata.annotations?.['k8s.v1.cni.cncf.io/resourceName']);
        fake.setKubevirt(json(['get', 'kubevirt', 'kubevirt', '-n', 'kubevirt']));
        fake.addObject('/apis/instancetype.kubevirt.io/v1beta1', 'virtualmachineclusterinstancetypes', json(['get', 'virtualmachineclusterinstancetype', 'n1.medium']));
        const modelled = await lookups(new ClusterClients(kubeConfigFor(fake.kubeconfigFile())));
        expect(modelled).toEqual(real);
        expect(real.namespace.state).toBe('found');
        expect(real.missingNad.state).toBe('absent');
        expect(real.instancetype).toEqual({ state: 'found', facts: { guestMemory: '4Gi', dedicatedCPUPlacement: true } });
      } finally {
        await fake.stop();
      }
    });

    it('migration: a VirtualMachineInstanceMigration through the real virt-api, and virt-controller renders the target Pod with the same sidecar', async () => {
      // Played, step by step, since neither runs here:
      // - kubelet: the Pod bound to node-a and Running, each container with an image digest
      //   (virt-controller refuses to migrate without reproducible digests);
      // - virt-handler, as its own service account: the VMI Running and LiveMigratable, with the
      //   fields virt-controller's migration controller waits for (selinuxContext, launcher image).
      const { name } = createVm(enabled, (vm) => (vm.metadata.name = 'vm-migrating'));
      const { pod: source } = await launched(enabled, name);
      kubectl(['create', '--raw', `/api/v1/namespaces/${enabled}/pods/${source.metadata.name}/binding`, '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Binding', metadata: { name: source.metadata.name, namespace: enabled }, target: { apiVersion: 'v1', kind: 'Node', name: 'node-a' } }));
      const now = new Date().toISOString();
      const digest = (image: string) => `${image.split(':')[0]!}@sha256:${createHash('sha256').update(image).digest('hex')}`;
      kubectl(['patch', 'pod', source.metadata.name, '-n', enabled, '--subresource', 'status', '--type', 'merge', '-p', JSON.stringify({
        status: {
          phase: 'Running', podIP: '10.244.0.10', podIPs: [{ ip: '10.244.0.10' }], startTime: now,
          conditions: ['Ready', 'ContainersReady', 'PodScheduled', 'Initialized'].map((type) => ({ type, status: 'True', lastTransitionTime: now })),
          containerStatuses: source.spec.containers.map((container) => ({ name: container.name, image: container.image, imageID: digest(container.image), ready: true, restartCount: 0, started: true, state: { running: { startedAt: now } } })),
        },
      })]);
      await until('virt-controller to schedule the VMI', () => (json<{ status: { phase?: string } }>(['get', 'vmi', name, '-n', enabled]).status.phase === 'Scheduled' ? true : undefined));
      await asServiceAccount('kubevirt', 'kubevirt-handler', 'PATCH', `/apis/kubevirt.io/v1/namespaces/${enabled}/virtualmachineinstances/${name}`, {
        status: {
          phase: 'Running', selinuxContext: 'none', migrationMethod: 'LiveMigration', migrationTransport: 'Unix', launcherContainerImageVersion: `virt-launcher:v${version}`,
          conditions: [{ type: 'Ready', status: 'True' }, { type: 'LiveMigratable', status: 'True' }],
          interfaces: [{ name: 'dataplane', mac: '02:00:00:aa:bb:01' }],
        },
      });
      kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', metadata: { name: 'migration-1', namespace: enabled }, spec: { vmiName: name } }));
      const target = await until('virt-controller to render the target Pod', () => json<{ items: (Pod & { metadata: { labels: Record<string, string> } })[] }>(['get', 'pods', '-n', enabled, '-l', `vm.kubevirt.io/name=${name}`]).items.find((pod) => pod.metadata.labels['kubevirt.io/migrationJobUID']));
      // The target runs the source's domain: the sidecar must be the same container, by name and image, with the same environment.
      const [sourceSidecar] = sidecars(source);
      const [targetSidecar, ...others] = sidecars(target);
      expect(others).toEqual([]);
      expect({ name: targetSidecar!.name, image: targetSidecar!.image, env: targetSidecar!.env, resources: targetSidecar!.resources }).toEqual({ name: sourceSidecar!.name, image: sourceSidecar!.image, env: sourceSidecar!.env, resources: sourceSidecar!.resources });
      const compute = (pod: Pod) => pod.spec.containers.find((container) => container.name === 'compute')!.resources.requests;
      expect(compute(target)).toEqual(compute(source));
    });

    it('outage: with the webhook stopped, VMs in Namespaces it does not select are still created and VDUSE VMs are refused; started again, they are admitted', async () => {
      const plain = namespace('plain-outage');
      await stopPart('webhook');
      try {
        expect(admits(plain).ok).toBe(true);
        const refused = admits(enabled);
        expect(refused.ok).toBe(false);
        expect(refused.output).toMatch(/failed calling webhook "[^"]*vduse[^"]*"/);
      } finally {
        await startWebhook();
      }
      const admitted = await until('VDUSE VMs admitted again', () => {
        const result = admits(enabled);
        return result.ok ? result : undefined;
      });
      expect(admitted.output).toContain('Warning: vduse: interfaces dataplane now use binding vduse');
    });

    it('certificate rotation: the serving certificate renewed as cert-manager does (same CA, so the same caBundle), and no request fails', async () => {
      const log = readState()!.parts.webhook!.log;
      const reloadsBefore = readFileSync(log, 'utf8').split('serving certificate reloaded').length;
      const results: boolean[] = [];
      const started = Date.now();
      let renewed = false;
      while (Date.now() - started < 8000) {
        results.push(admits(enabled).ok);
        if (!renewed && Date.now() - started > 2000) {
          renewWebhookCertificate();
          renewed = true;
        }
      }
      await until('the webhook to reload its certificate', () => (readFileSync(log, 'utf8').split('serving certificate reloaded').length > reloadsBefore ? true : undefined), 10_000);
      results.push(admits(enabled).ok);
      expect(results.length).toBeGreaterThan(5);
      expect(results.filter((ok) => !ok)).toEqual([]);
    });

    it('virtctl create vm, in a Namespace whose pod network is VDUSE: the pod network on the vduse binding', async () => {
      const ns = namespace('telco-pod-network', { 'vduse.kubevirt.io/policy': 'enabled' }, { 'vduse.kubevirt.io/pod-network': 'vduse' });
      const manifest = execFileSync(join(readState()!.bins.kubevirt, 'virtctl'), ['create', 'vm', '--name', 'vm-virtctl', '--volume-containerdisk', 'src:containerdisks/fedora:41', '--run-strategy', 'Always'], { encoding: 'utf8' });
      const result = spawnSync(join(readState()!.bins.kube, 'kubectl'), ['--kubeconfig', KUBECONFIG, 'create', '-n', ns, '-f', '-'], { input: manifest, encoding: 'utf8' });
      expect(result.status, result.stderr).toBe(0);
      expect(result.stderr).toContain('added the pod network "default"');
      const { vmi, pod } = await launched(ns, 'vm-virtctl');
      expect(vmi.spec.domain.devices.interfaces).toEqual([{ name: 'default', model: 'virtio', binding: { name: 'vduse' } }]);
      expect(sidecars(pod)).toHaveLength(1);
    });
  });
}

/** A request as a service account, with a token of its own: only what its RBAC allows. */
async function asServiceAccount(namespace: string, account: string, method: string, path: string, body: unknown): Promise<void> {
  const token = kubectl(['create', 'token', account, '-n', namespace]).trim();
  await new Promise<void>((resolve, reject) => {
    const outgoing = httpsRequest(`${API_SERVER}${path}`, { method, ca: readFileSync(CLUSTER_CA), agent: false, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/merge-patch+json' } }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => (response.statusCode === 200 ? resolve() : reject(new Error(`${method} ${path} as ${namespace}/${account}: HTTP ${String(response.statusCode)}: ${text.slice(0, 300)}`))));
    });
    outgoing.on('error', reject);
    outgoing.end(JSON.stringify(body));
  });
}

/** kubectl create --dry-run=server of the example VM: every admission webhook runs, nothing is stored. */
function admits(ns: string, change: (vm: LooseVm) => void = () => undefined): { ok: boolean; output: string } {
  const result = createExampleVm(ns, change, ['--dry-run=server']);
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

/** A memory quantity in whole bytes, as Kubernetes counts it. */
function memoryBytes(quantity: string): bigint {
  const parsed = parseQuantity(quantity);
  if (parsed === undefined) throw new Error(`not a memory quantity: ${quantity}`);
  return wholeBytes(parsed);
}
