// The rest of the control plane, real: kube-controller-manager (the service account and garbage
// collector controllers among its others) and kube-scheduler, from the same Kubernetes module as
// the API server, and virt-api registered as subresources.kubevirt.io, so that virtctl's commands
// run. Played (test/cluster/README.md): the Node (kubelet's and virt-handler's reports), and where
// a test needs it, kubelet's part of a Pod's deletion and of its start, and virt-handler's VMI status.
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { CLUSTER_CA, readState } from './cluster.ts';
import { clearMigrations, createVm, createWithVirtctl, json, kubectl, launched, namespace, type Pod, playPodTermination, playRunning, until, virtctl } from './helpers.ts';

const status = inject('clusterStatus');

/* eslint-disable @typescript-eslint/no-unsafe-member-access --
   Loose on purpose: the tests change the example VM in place; the API servers check it. */

interface Meta {
  metadata: { name: string; uid: string; deletionTimestamp?: string; ownerReferences?: { kind: string; uid: string }[] };
}

// control-plane.test.ts reports a cluster that is not ready; this file then has nothing to run.
describe.skipIf(status === 'ready')('the rest of the control plane', () => {
  it('needs the cluster', () => console.warn(`*** SKIPPING the controllers suite: ${status} ***`));
});

if (status === 'ready') {
  const version = readState()!.kubevirt;

  describe(`kube-controller-manager and kube-scheduler, beside KubeVirt v${version}`, () => {
    const ns = 'controllers';
    beforeAll(() => void namespace(ns, { 'vduse.kubevirt.io/policy': 'enabled' }));

    it("a new Namespace gets its default ServiceAccount and the cluster's CA from kube-controller-manager", () => {
      // Nothing here makes them (helpers.ts namespace() waits for the first).
      const fresh = 'controllers-fresh';
      kubectl(['create', 'namespace', fresh]);
      kubectl(['wait', '--for=create', '--timeout=30s', 'serviceaccount/default', 'configmap/kube-root-ca.crt', '-n', fresh]);
      const ca = json<{ data: Record<string, string> }>(['get', 'configmap', 'kube-root-ca.crt', '-n', fresh]).data['ca.crt'];
      expect(ca).toBe(readFileSync(CLUSTER_CA, 'utf8'));
    });

    it("kube-scheduler binds a VM's launcher Pod to the played Node, and counts the VDUSE devices it advertises", async () => {
      const { name } = createVm(ns, (vm) => (vm.metadata.name = 'vm-scheduled'));
      const { pod } = await launched(ns, name);
      const bound = await until('the Pod bound', () => json<Pod & { spec: { nodeName?: string } }>(['get', 'pod', pod.metadata.name, '-n', ns]).spec.nodeName);
      expect(bound).toBe('node-a');
      const events = json<{ items: { reason: string; source?: { component?: string }; reportingComponent?: string; message: string }[] }>(['get', 'events', '-n', ns, '--field-selector', `involvedObject.name=${pod.metadata.name}`]).items;
      expect(events.find((event) => event.reason === 'Scheduled')?.message).toContain('to node-a');

      // Only as many devices as the Node has left, and a VM with two VDUSE interfaces.
      const requested = (pods: { spec: { containers: { resources: { requests?: Record<string, string> } }[] } }[]) =>
        pods.flatMap((each) => each.spec.containers).reduce((sum, container) => sum + Number(container.resources.requests?.['vduse.io/vduse'] ?? 0), 0);
      const onNode = json<{ items: { spec: { containers: { resources: { requests?: Record<string, string> } }[] } }[] }>(['get', 'pods', '-A', '--field-selector', 'spec.nodeName=node-a']).items;
      const setAllocatable = (count: number) => kubectl(['patch', 'node', 'node-a', '--subresource', 'status', '--type', 'merge', '-p', JSON.stringify({ status: { allocatable: { 'vduse.io/vduse': String(count) } } })]);
      const before = json<{ status: { allocatable: Record<string, string> } }>(['get', 'node', 'node-a']).status.allocatable['vduse.io/vduse']!;
      setAllocatable(requested(onNode) + 1);
      try {
        createVm(ns, (vm) => {
          vm.metadata.name = 'vm-two-devices';
          const spec = vm.spec.template.spec as { domain: { devices: { interfaces: object[] } }; networks: object[] };
          spec.domain.devices.interfaces.push({ name: 'dataplane2', bridge: {} });
          spec.networks.push({ name: 'dataplane2', multus: { networkName: 'ovs-dpdk-vduse' } });
        });
        const { pod: two } = await launched(ns, 'vm-two-devices');
        if (version.startsWith('1.8')) {
          // It asks for two; one is left: kube-scheduler says so, and binds it once the Node has them.
          const refused = await until('kube-scheduler to refuse it', () =>
            json<{ items: { reason: string; message: string }[] }>(['get', 'events', '-n', ns, '--field-selector', `involvedObject.name=${two.metadata.name}`]).items.find((event) => event.reason === 'FailedScheduling'),
          );
          expect(refused.message).toContain('Insufficient vduse.io/vduse');
          expect(json<{ spec: { nodeName?: string } }>(['get', 'pod', two.metadata.name, '-n', ns]).spec.nodeName).toBeUndefined();
          setAllocatable(Number(before));
        }
        // On 1.9 the Pod asks for no device (ExternalNetResourceInjection; docs/requirements.md): it fits.
        expect(await until('the Pod bound', () => json<{ spec: { nodeName?: string } }>(['get', 'pod', two.metadata.name, '-n', ns]).spec.nodeName, 60_000)).toBe('node-a');
      } finally {
        setAllocatable(Number(before));
      }
    }, 120_000);

    it("deleting a VM in the foreground waits for the garbage collector, which deletes its VMI, its instancetype's revisions and, with kubelet's part played, its Pod", async () => {
      const { name } = createWithVirtctl(ns, 'vm-deleted', ['--instancetype', 'u1.small', '--preference', 'fedora']);
      const { vmi, pod } = await launched(ns, name);
      const vm = json<Meta>(['get', 'vm', name, '-n', ns]);
      const revisions = () => json<{ items: Meta[] }>(['get', 'controllerrevisions', '-n', ns]).items.filter((revision) => revision.metadata.ownerReferences?.some((owner) => owner.uid === vm.metadata.uid));
      await until("the instancetype's revisions", () => (revisions().length > 0 ? true : undefined));
      // The API server puts the foregroundDeletion finalizer on the VM; only the garbage collector
      // takes it off, once the dependents that block it are gone.
      kubectl(['delete', 'vm', name, '-n', ns, '--cascade=foreground', '--wait=false']);
      expect(json<Meta & { metadata: { finalizers?: string[] } }>(['get', 'vm', name, '-n', ns]).metadata.finalizers).toContain('foregroundDeletion');
      let terminated = 0;
      await until(
        'the VM gone',
        () => {
          terminated += playPodTermination(ns, `vm.kubevirt.io/name=${name}`);
          return kubectl(['get', 'vm', name, '-n', ns, '--ignore-not-found']).trim() === '' ? true : undefined;
        },
        60_000,
      );
      expect(terminated).toBe(1);
      expect(kubectl(['get', 'vmi', vmi.metadata.name, '-n', ns, '--ignore-not-found']).trim()).toBe('');
      expect(kubectl(['get', 'pod', pod.metadata.name, '-n', ns, '--ignore-not-found']).trim()).toBe('');
      expect(revisions()).toEqual([]);
    }, 120_000);
  });

  describe(`virtctl on the rig (KubeVirt v${version}), through subresources.kubevirt.io`, () => {
    const ns = 'virtctl';
    beforeAll(() => void namespace(ns, { 'vduse.kubevirt.io/policy': 'enabled' }));

    it('says its version and the server\'s, stamped as a release build', () => {
      const result = virtctl(['version']);
      expect(result.stderr).toBe('');
      expect(result.stdout).toContain(`Client Version: version.Info{GitVersion:"v${version}"`);
      expect(result.stdout).toContain(`Server Version: version.Info{GitVersion:"v${version}"`);
      expect(result.stdout).not.toContain('$Format');
    });

    it('stop, then start: the VM stops (kubelet played for the Pod) and starts again', async () => {
      const { name } = createVm(ns, (vm) => (vm.metadata.name = 'vm-stop-start'));
      const first = await launched(ns, name);
      const stopped = virtctl(['stop', name, '-n', ns]);
      expect(stopped.stderr + stopped.stdout).toContain(`VM ${name} was scheduled to stop`);
      expect(json<{ spec: { runStrategy: string } }>(['get', 'vm', name, '-n', ns]).spec.runStrategy).toBe('Halted');
      await until(
        'the VMI gone',
        () => {
          playPodTermination(ns, `vm.kubevirt.io/name=${name}`);
          return kubectl(['get', 'vmi', name, '-n', ns, '--ignore-not-found']).trim() === '' ? true : undefined;
        },
        60_000,
      );
      const started = virtctl(['start', name, '-n', ns]);
      expect(started.stderr + started.stdout).toContain(`VM ${name} was scheduled to start`);
      const second = await launched(ns, name);
      expect(second.vmi.metadata.name).toBe(name);
      expect(second.pod.metadata.name).not.toBe(first.pod.metadata.name);
    }, 120_000);

    it('migrate: virtctl makes the VirtualMachineInstanceMigration, and virt-controller renders the target Pod', async () => {
      clearMigrations();
      const { name } = createVm(ns, (vm) => (vm.metadata.name = 'vm-migrate'));
      const { pod } = await launched(ns, name);
      await playRunning(ns, name, pod, [{ name: 'dataplane', mac: '02:00:00:aa:bb:02' }]);
      const result = virtctl(['migrate', name, '-n', ns]);
      expect(result.stderr + result.stdout).toContain(`VM ${name} was scheduled to migrate`);
      const migration = await until('the migration', () => json<{ items: { metadata: { name: string; uid: string }; spec: { vmiName: string } }[] }>(['get', 'virtualmachineinstancemigrations', '-n', ns]).items.find((item) => item.spec.vmiName === name));
      const target = await until('the target Pod', () =>
        json<{ items: (Pod & { metadata: { labels: Record<string, string> } })[] }>(['get', 'pods', '-n', ns, '-l', `vm.kubevirt.io/name=${name}`]).items.find((each) => each.metadata.labels['kubevirt.io/migrationJobUID'] === migration.metadata.uid),
      );
      expect(target.spec.containers.map((container) => container.name)).toEqual(pod.spec.containers.map((container) => container.name));
    }, 120_000);
  });
}
