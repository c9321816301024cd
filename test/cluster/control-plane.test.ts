// The project on a real control plane: kube-apiserver and etcd, KubeVirt's virt-api and
// virt-controller (test/cluster/cluster.ts), installed as docs/install.md says. Each case reads back
// what KubeVirt really made. Played by the rig, because no kubelet or kube-controller-manager runs
// here: a Node's status with the VDUSE resource, the webhook Service's EndpointSlice, and the
// `default` ServiceAccount of each test Namespace. virt-launcher Pods stay Pending.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { pino } from 'pino';
import { parse as parseYaml, stringify } from 'yaml';
import type { VirtualMachine } from '../../api/kubevirt.ts';
import { pluginBindingNames } from '../../api/names.ts';
import { SIDECAR_MEMORY_LIMIT } from '../../api/sidecar-resources.ts';
import { ClusterClients } from '../../cluster/clients.ts';
import { createWebhookMetrics } from '../../webhook/metrics.ts';
import { InformerClusterView } from '../../webhook/cluster-cache.ts';
import { instancetypeFacts } from '../../webhook/instancetypes.ts';
import { FakeApiServer } from '../helpers/fake-apiserver.ts';
import { projectFile } from '../helpers/fixtures.ts';
import { kubeConfigFor } from '../helpers/webhook-client.ts';
import { expandVm } from '../helpers/kubevirt-expansion.ts';
import { KUBECONFIG, readState, renewWebhookCertificate, startWebhook, stopPart } from './cluster.ts';
import { clusterUnavailable, createExampleVm, createVm, createWithVirtctl, env, json, kubectl, launched, type LooseVm, memoryBytes, namespace, PLAYED_DEVICE_INFO, playRunning, type Pod, renderMigrationTarget, sidecars, until, type Vmi, withMoreDataplanes, withoutCloudInit } from './helpers.ts';

const status = inject('clusterStatus');

/* eslint-disable @typescript-eslint/no-unsafe-member-access --
   Loose on purpose: the tests change the example VM in place; the API servers check it. */
const doctor = (...args: string[]) => spawnSync(process.execPath, [projectFile('cli', 'main.ts'), 'doctor', '--kubeconfig', KUBECONFIG, '--output', 'json', ...args], { encoding: 'utf8' });

if (status !== 'ready') {
  clusterUnavailable('the real control plane', status);
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
      // KubeVirt 1.9 turns Beta gates on unless disabled (pkg/virt-config/featuregate/feature-gates.go
      // IsEnabled), ExternalNetResourceInjection among them; the VM case below shows what that does.
      expect(report.checks.find((check) => check.check === 'device requests')?.status).toBe(version.startsWith('1.8') ? 'ok' : 'warn');
      expect(report.checks.find((check) => check.check === 'plugin pipeline')).toMatchObject({ status: 'ok', detail: version.startsWith('1.8') ? `KubeVirt v${version} has no plugin pipeline` : expect.stringContaining('the Plugins feature gate is off') as unknown });
      // What KubeVirt gives every sidecar here; the VM cases below read it back on the real Pod.
      expect(report.checks.find((check) => check.check === 'sidecar resources')?.detail).toContain(`gets ${SIDECAR_MEMORY_LIMIT} of memory as its limit and its request`);
      // The probe VM went through the real API server, our webhook and virt-api, and nothing was stored.
      expect(report.checks.find((check) => check.check === 'webhook answers')?.detail).toBe('a probe VM in Namespace default (a dry run, nothing stored) came back from the API server with its interface on binding vduse');
      expect(json<{ items: unknown[] }>(['get', 'virtualmachines', '-n', 'default']).items).toEqual([]);
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
      // virt-controller asks for the NAD's device on 1.8; on 1.9 the Beta gate ExternalNetResourceInjection
      // is on by default, and it reads no NAD (pkg/virt-controller/services/template.go): doctor warns.
      expect(compute.resources.requests?.['vduse.io/vduse']).toBe(version.startsWith('1.8') ? '1' : undefined);
      expect(memoryBytes(compute.resources.requests!.memory!)).toBeGreaterThan(memoryBytes('2Gi') + memoryBytes('1Gi'));
      const deviceInfo = pod.spec.volumes.find((volume) => volume.downwardAPI?.items.some((item) => item.path === 'network-info'));
      expect(deviceInfo?.downwardAPI?.items.find((item) => item.path === 'network-info')?.fieldRef.fieldPath).toBe("metadata.annotations['kubevirt.io/network-info']");
    });

    it('memory hotplug policy, two VDUSE interfaces on a 4Gi guest: the Pod asks for 12Gi less under auto than under keep; a maxGuest the user wrote is kept', async () => {
      const twoDataplanes = (name: string, annotations: Record<string, string>, memory?: Record<string, string>) =>
        createVm(enabled, (vm) => {
          vm.metadata.name = name;
          vm.metadata.annotations = annotations;
          if (memory) vm.spec.template.spec.domain.memory = memory;
          withMoreDataplanes(vm, 2);
        });
      const computeMemory = (pod: Pod) => memoryBytes(pod.spec.containers.find((container) => container.name === 'compute')!.resources.requests!.memory!);

      const auto = twoDataplanes('vm-hotplug-auto', {});
      expect(auto.warnings).toContain('Warning: vduse: maxGuest set to 4Gi (no memory hotplug): memlock overhead 5Gi instead of 17Gi for 2 VDUSE interfaces');
      const keep = twoDataplanes('vm-hotplug-keep', { 'vduse.kubevirt.io/memory-hotplug': 'keep' });
      expect(keep.warnings).toContain('Warning: vduse: memory hotplug to 16Gi adds 17Gi of memlock overhead; maxGuest: 4Gi (no hotplug) adds 5Gi');
      const own = twoDataplanes('vm-hotplug-own', {}, { guest: '4Gi', maxGuest: '8Gi' });
      expect(own.warnings).not.toContain('maxGuest set to');

      const launches = await Promise.all(['vm-hotplug-auto', 'vm-hotplug-keep', 'vm-hotplug-own'].map((name) => launched(enabled, name)));
      const [onAuto, onKeep, onOwn] = launches;
      // What virt-api and virt-controller made of each: maxGuest, and KubeVirt's limit base with it.
      expect(onAuto!.vmi.spec.domain.memory).toMatchObject({ guest: '4Gi', maxGuest: '4Gi', reservedOverhead: { addedOverhead: '5Gi' } });
      expect(onKeep!.vmi.spec.domain.memory).toMatchObject({ guest: '4Gi', maxGuest: '16Gi', reservedOverhead: { addedOverhead: '17Gi' } });
      expect(onOwn!.vmi.spec.domain.memory).toMatchObject({ guest: '4Gi', maxGuest: '8Gi', reservedOverhead: { addedOverhead: '9Gi' } });
      // The Pod's memory request is KubeVirt's own overhead plus the guest plus addedOverhead: only the last differs.
      expect(computeMemory(onKeep!.pod) - computeMemory(onAuto!.pod)).toBe(memoryBytes('12Gi'));
      expect(computeMemory(onOwn!.pod) - computeMemory(onAuto!.pod)).toBe(memoryBytes('4Gi'));
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
        withoutCloudInit(vm);
      });
      expect(warnings).toContain('Warning: vduse: coalescing not delivered: it needs a cloud-init volume');
      const { vmi, pod } = await launched(enabled, name);
      expect(vmi.spec.domain.devices.interfaces.find((iface) => iface.name === 'dataplane')?.binding?.name).toBe('vduse');
      expect(sidecars(pod).map((container) => container.image)).toEqual([kubectl(['get', 'kubevirt', 'kubevirt', '-n', 'kubevirt', '-o', 'jsonpath={.spec.configuration.network.binding.vduse.sidecarImage}'])]);
    });

    it("the dedicated-CPU network instancetype n1.medium from KubeVirt's bundled set: the sidecar gets KubeVirt's cpu 200m and the install's memory, the overhead lands in ordinary memory", async () => {
      const ns = namespace('telco-n1', { 'vduse.kubevirt.io/policy': 'enabled' }, { 'vduse.kubevirt.io/pod-network': 'vduse' });
      createWithVirtctl(ns, 'vm-n1', ['--instancetype', 'n1.medium', '--preference', 'fedora']);
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
        expect(real.instancetype).toEqual({ state: 'found', facts: { memory: { guest: '4Gi', maxGuest: undefined, overcommitPercent: undefined, hugepagesPageSize: '1Gi' }, dedicatedCPUPlacement: true } });
      } finally {
        await fake.stop();
      }
    });

    it('migration: a VirtualMachineInstanceMigration through the real virt-api, and virt-controller renders the target Pod with the same sidecar', async () => {
      // kubelet, Multus and virt-handler played, step by step (helpers.ts playRunning).
      const { name } = createVm(enabled, (vm) => (vm.metadata.name = 'vm-migrating'));
      const { pod: source } = await launched(enabled, name);
      await playRunning(enabled, name, source, [{ name: 'dataplane', mac: '02:00:00:aa:bb:01', mtu: 9000, nad: `${enabled}/ovs-dpdk-vduse` }]);
      // The network-info virt-controller writes on the running Pod from Multus's network-status
      // (pkg/network/pod/annotations/generator.go GenerateFromActivePod): 1.9 adds the MTU
      // (pkg/network/downwardapi/types.go Interface.Mtu).
      const networkInfo = await until('virt-controller to write network-info', () => json<Pod>(['get', 'pod', source.metadata.name, '-n', enabled]).metadata.annotations['kubevirt.io/network-info']);
      expect(JSON.parse(networkInfo)).toEqual({
        interfaces: [{ network: 'dataplane', mac: '02:00:00:aa:bb:01', deviceInfo: PLAYED_DEVICE_INFO, ...(version.startsWith('1.8') ? {} : { mtu: 9000 }) }],
      });
      const target = await renderMigrationTarget(enabled, name, 'migration-1');
      // The target runs the source's domain: the sidecar must be the same container, by name and image, with the same environment.
      const [sourceSidecar] = sidecars(source);
      const [targetSidecar, ...others] = sidecars(target);
      expect(others).toEqual([]);
      expect({ name: targetSidecar!.name, image: targetSidecar!.image, env: targetSidecar!.env, resources: targetSidecar!.resources }).toEqual({ name: sourceSidecar!.name, image: sourceSidecar!.image, env: sourceSidecar!.env, resources: sourceSidecar!.resources });
      const compute = (pod: Pod) => pod.spec.containers.find((container) => container.name === 'compute')!.resources.requests;
      expect(compute(target)).toEqual(compute(source));
      // 1.9 reports the overhead on the target Pod (the Beta gate VmiMemoryOverheadReport), and its
      // virt-handler takes the target's memlock limit from it (pkg/hypervisor/kvm/runtime.go
      // CalculateMemlockSize, MigrationState.TargetMemoryOverhead): it holds the webhook's addedOverhead.
      const reported = target.metadata.annotations['kubevirt.io/memory-overhead-bytes'];
      if (version.startsWith('1.8')) expect(reported).toBeUndefined();
      else expect(BigInt(reported!)).toBeGreaterThan(memoryBytes('1Gi'));
    });

    it('outage: with the webhook stopped, VMs in Namespaces it does not select are still created, VDUSE VMs are refused, and doctor fails though the endpoints look ready; started again, they are admitted', async () => {
      const plain = namespace('plain-outage');
      const check = (name: string) => (JSON.parse(doctor().stdout) as { checks: { check: string; status: string; detail: string }[] }).checks.find((entry) => entry.check === name)!;
      expect(check('webhook answers').status).toBe('ok');
      await stopPart('webhook');
      try {
        expect(admits(plain).ok).toBe(true);
        const refused = admits(enabled);
        expect(refused.ok).toBe(false);
        expect(refused.output).toMatch(/failed calling webhook "[^"]*vduse[^"]*"/);
        // The EndpointSlice still says ready (played; kubelet would lag the same way): only the probe tells.
        expect(check('webhook endpoints').status).toBe('ok');
        const answers = check('webhook answers');
        expect(answers.status).toBe('fail');
        expect(answers.detail).toMatch(/a probe VM in Namespace default \(a dry run\) did not come back: HTTP 500: Internal error occurred: failed calling webhook "vm-opt-in\.vduse\.kubevirt\.io": .*connection refused/);
        expect(doctor().status).toBe(1);
      } finally {
        await startWebhook();
      }
      expect(check('webhook answers').status).toBe('ok');
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
      const { warnings } = createWithVirtctl(ns, 'vm-virtctl');
      expect(warnings).toContain('added the pod network "default"');
      const { vmi, pod } = await launched(ns, 'vm-virtctl');
      expect(vmi.spec.domain.devices.interfaces).toEqual([{ name: 'default', model: 'virtio', binding: { name: 'vduse' } }]);
      expect(sidecars(pod)).toHaveLength(1);
    });
  });

  describe(`no mistake is silent: what kubectl prints, on KubeVirt v${version}`, () => {
    const ns = 'telco-mistakes';
    beforeAll(() => void namespace(ns, { 'vduse.kubevirt.io/policy': 'enabled' }));
    const troubleshooting = readFileSync(projectFile('docs', 'troubleshooting.md'), 'utf8');

    it('a misspelt annotation: admitted with a warning naming the nearest key, and the ring keeps its default', () => {
      const { name, warnings } = createVm(ns, (vm) => {
        vm.metadata.name = 'vm-misspelt';
        vm.metadata.annotations = { 'vduse.kubevirt.io/rx-queue-sizes': '512', 'vduse.kubevirt.io/rxqueue-size': '512' };
      });
      expect(warnings).toContain('Warning: vduse: unknown annotation vduse.kubevirt.io/rx-queue-sizes; did you mean rx-queue-size?');
      expect(warnings).toContain('Warning: vduse: unknown annotation vduse.kubevirt.io/rxqueue-size; did you mean rx-queue-size?');
      expect(json<LooseVm>(['get', 'vm', name, '-n', ns]).spec.template.metadata.annotations['vduse.kubevirt.io/rx-queue-size']).toBe('1024');
    });

    it('a misspelt Namespace policy and a misspelt VM label reach the webhook and are refused with the same message; kubectl prints what troubleshooting.md quotes; doctor lists the Namespace', () => {
      const typo = namespace('telco-typo', { 'vduse.kubevirt.io/policy': 'enable' });
      const plain = namespace('telco-plain');
      try {
        const policyMessage = 'Namespace telco-typo: label vduse.kubevirt.io/policy: got "enable"; expected one of enabled, disabled (ask the namespace\'s administrator)';
        // kubectl apply -f FILE, and an edit of a stored object: the two forms troubleshooting.md quotes.
        const applied = applyFile(typo, (vm) => vm);
        expect(applied.status).toBe(1);
        const prefix = 'Error from server (Forbidden): error when creating "vm.yaml": admission webhook "namespace-policy.vduse.kubevirt.io" denied the request:';
        expect(applied.stderr).toBe(`${prefix} ${policyMessage}\n`);
        expect(troubleshooting).toContain(`\`${prefix}\``);
        const labelMessage = 'VirtualMachine telco-plain/vm-plain: label vduse.kubevirt.io/enabled: got "yes"; expected "true" or "false"';
        const labelled = applyFile(plain, (vm) => (vm.metadata.labels = { 'vduse.kubevirt.io/enabled': 'yes' }));
        expect(labelled.stderr).toBe(`Error from server (Forbidden): error when creating "vm.yaml": admission webhook "vm-opt-in.vduse.kubevirt.io" denied the request: ${labelMessage}\n`);
        // The same label in the enabled Namespace: the same words.
        expect(applyFile(ns, (vm) => (vm.metadata.labels = { 'vduse.kubevirt.io/enabled': 'yes' })).stderr).toContain(labelMessage.replace('telco-plain', ns));
        // A VM stored before the mistake: its next edit is refused, in kubectl's other form.
        kubectl(['label', 'namespace', typo, 'vduse.kubevirt.io/policy=enabled', '--overwrite']);
        createVm(typo);
        kubectl(['label', 'namespace', typo, 'vduse.kubevirt.io/policy=enable', '--overwrite']);
        const edited = spawnSync(join(readState()!.bins.kube, 'kubectl'), ['--kubeconfig', KUBECONFIG, 'annotate', 'vm', 'vm-plain', '-n', typo, 'note=1'], { encoding: 'utf8' });
        const editPrefix = 'Error from server (Forbidden): admission webhook "namespace-policy.vduse.kubevirt.io" denied the request:';
        expect(edited.stderr).toBe(`${editPrefix} ${policyMessage}\n`);
        expect(troubleshooting).toContain(`\`${editPrefix}\``);
        const listed = (JSON.parse(doctor().stdout) as { checks: { check: string; status: string; detail: string }[] }).checks.find((check) => check.check === 'Namespace policies');
        expect(listed).toMatchObject({ status: 'fail', detail: policyMessage });
      } finally {
        // No Namespace controller runs here to delete it: the policy goes back to one the later cases expect.
        kubectl(['label', 'namespace', typo, 'vduse.kubevirt.io/policy=disabled', '--overwrite']);
      }
    });

    it('a VM applied before its NetworkAttachmentDefinition: a warning naming it; converted at its next update once it exists, whoever makes it', () => {
      const { name, warnings } = createVm(ns, (vm) => {
        vm.metadata.name = 'vm-before-its-network';
        vm.spec.template.spec.networks[1].multus.networkName = 'ovs-dpdk-vduse-later';
      });
      expect(warnings).toContain('Warning: vduse: network dataplane left unconverted: no NetworkAttachmentDefinition ovs-dpdk-vduse-later');
      const nad = parseYaml(readFileSync(projectFile('deploy', 'examples', 'network-attachment-definition.yaml'), 'utf8')) as { metadata: Record<string, unknown> };
      nad.metadata = { ...nad.metadata, name: 'ovs-dpdk-vduse-later', namespace: ns };
      kubectl(['apply', '-f', '-'], JSON.stringify(nad));
      const edited = spawnSync(join(readState()!.bins.kube, 'kubectl'), ['--kubeconfig', KUBECONFIG, 'annotate', 'vm', name, '-n', ns, 'note=edited'], { encoding: 'utf8' });
      expect(edited.status).toBe(0);
      expect(edited.stderr).not.toContain('no NetworkAttachmentDefinition');
      // Converted by this edit, or by an update virt-controller made first (it writes the template's
      // PCI topology annotations), which the webhook is sent too: the warning then went to it.
      expect(json<LooseVm>(['get', 'vm', name, '-n', ns]).spec.template.spec.domain.devices.interfaces[1]).toMatchObject({ binding: { name: 'vduse' }, model: 'virtio' });
    });

    it('virtctl create vm in a plain policy=enabled Namespace: the skip speaks, as offline mutate does, and points at vduse.kubevirt.io/pod-network', () => {
      const { warnings } = createWithVirtctl(ns, 'vm-virtctl-plain');
      expect(warnings).toContain('Warning: vduse: skipped: wanted (Namespace policy), but no interface is on a VDUSE network (see vduse.kubevirt.io/pod-network)');
      const offline = spawnSync(process.execPath, [projectFile('cli', 'main.ts'), 'mutate', '--file', '-', '--namespace-labels', 'vduse.kubevirt.io/policy=enabled'], {
        input: JSON.stringify({ ...json<LooseVm>(['get', 'vm', 'vm-virtctl-plain', '-n', ns]), status: undefined }),
        encoding: 'utf8',
      });
      expect(offline.stderr).toContain('Warning: vduse: skipped: wanted (Namespace policy), but no interface is on a VDUSE network (see vduse.kubevirt.io/pod-network)');
      expect(offline.stderr).toContain(`skipped: wanted (Namespace ${ns} has vduse.kubevirt.io/policy=enabled), but no interface is on a VDUSE network`);
    });

    it("a tuning change on a VM whose VMI exists: a warning that it waits for the restart, since KubeVirt's RestartRequired stays silent about annotations (and speaks for a spec change)", async () => {
      const { name } = createVm(ns, (vm) => (vm.metadata.name = 'vm-retuned'));
      await launched(ns, name);
      await until('virt-controller to record the VMI on the VM', () => (json<LooseVm>(['get', 'vm', name, '-n', ns]).status?.created === true ? true : undefined));
      const annotated = spawnSync(join(readState()!.bins.kube, 'kubectl'), ['--kubeconfig', KUBECONFIG, 'annotate', 'vm', name, '-n', ns, 'vduse.kubevirt.io/rx-queue-size=512'], { encoding: 'utf8' });
      expect(annotated.status).toBe(0);
      expect(annotated.stderr).toBe('Warning: vduse: rx-queue-size changed: the running VMI keeps its old tuning until the VM restarts\n');
      // virt-controller has seen the new generation (desiredGeneration), and the VMI still runs the old one.
      const synced = () => {
        const vm = json<LooseVm>(['get', 'vm', name, '-n', ns]);
        return vm.status?.desiredGeneration === vm.metadata.generation ? vm : undefined;
      };
      const seen = await until('virt-controller to sync the annotated VM', synced);
      expect(seen.spec.template.metadata.annotations['vduse.kubevirt.io/rx-queue-size']).toBe('512');
      expect(seen.status.observedGeneration).toBeLessThan(seen.metadata.generation as number);
      const restartRequired = (vm: LooseVm) => (vm.status.conditions as { type: string; message?: string }[]).find((condition) => condition.type === 'RestartRequired');
      expect(restartRequired(seen)).toBeUndefined();
      // The same controller flags a change to the template's spec, so its silence above is about annotations.
      kubectl(['patch', 'vm', name, '-n', ns, '--type', 'merge', '-p', JSON.stringify({ spec: { template: { spec: { terminationGracePeriodSeconds: 7 } } } })]);
      const flagged = await until('RestartRequired after a spec change', () => {
        const vm = synced();
        return vm && restartRequired(vm) ? vm : undefined;
      });
      expect(restartRequired(flagged)?.message).toBe('a non-live-updatable field was changed in the template spec');
    });

    it('kubectl apply of an unchanged VM: the first apply names the conversion, the second says nothing and stores nothing new', () => {
      const first = applyFile(ns, (vm) => (vm.metadata.name = 'vm-applied'));
      expect(first.stderr).toContain('Warning: vduse: interfaces dataplane now use binding vduse');
      const stored = json<LooseVm>(['get', 'vm', 'vm-applied', '-n', ns]);
      const again = applyFile(ns, (vm) => (vm.metadata.name = 'vm-applied'));
      // kubectl's three-way merge sends the interface list as written, so the webhook sees it again.
      expect(again.stdout).toContain('virtualmachine.kubevirt.io/vm-applied configured');
      expect(again.stderr).toBe('');
      // virt-controller writes the status meanwhile: the spec's generation says whether the spec changed.
      expect(json<LooseVm>(['get', 'vm', 'vm-applied', '-n', ns]).metadata.generation).toBe(stored.metadata.generation);
    });
  });
}

/** kubectl apply -f vm.yaml of the example VM, changed, from a folder of its own (kubectl names the file in errors). */
function applyFile(ns: string, change: (vm: LooseVm) => void): { status: number | null; stdout: string; stderr: string } {
  const vm = parseYaml(readFileSync(projectFile('deploy', 'examples', 'vm-plain.yaml'), 'utf8')) as LooseVm;
  vm.metadata.namespace = ns;
  change(vm);
  const folder = mkdtempSync(join(tmpdir(), 'vduse-apply-'));
  // YAML 1.1, as kubectl reads it: "yes" stays a string.
  writeFileSync(join(folder, 'vm.yaml'), stringify(vm, { version: '1.1' }));
  return spawnSync(join(readState()!.bins.kube, 'kubectl'), ['--kubeconfig', KUBECONFIG, 'apply', '-f', 'vm.yaml'], { cwd: folder, encoding: 'utf8' });
}

/** kubectl create --dry-run=server of the example VM: every admission webhook runs, nothing is stored. */
function admits(ns: string, change: (vm: LooseVm) => void = () => undefined): { ok: boolean; output: string } {
  const result = createExampleVm(ns, change, ['--dry-run=server']);
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}
