// What the real-control-plane suites share: kubectl as the test's admin, and the example VMs
// created, admitted and launched (each read back as KubeVirt stored it).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml, stringify } from 'yaml';
import { describe, it } from 'vitest';
import { podInterfaceName } from '../../api/pod-interface.ts';
import { parseQuantity, wholeBytes } from '../../api/quantity.ts';
import { projectFile } from '../helpers/fixtures.ts';
import { describeRequiring, NEEDS } from '../helpers/requirements.ts';
import { API_SERVER, CLUSTER_CA, KUBECONFIG, kubectl as kubectlIn, NODE, readState } from './cluster.ts';

export const kubectl = (args: string[], input?: string) => kubectlIn(readState()!.bins.kube, args, input);
export const json = <T>(args: string[]): T => JSON.parse(kubectl([...args, "-o", "json"])) as T; // eslint-disable-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names what it reads

export interface Container {
  name: string;
  image: string;
  command?: string[];
  env?: { name: string; value?: string }[];
  resources: { limits?: Record<string, string>; requests?: Record<string, string> };
}
export interface Pod {
  metadata: { name: string; annotations: Record<string, string> };
  spec: { containers: Container[]; volumes: { name: string; downwardAPI?: { items: { path: string; fieldRef: { fieldPath: string } }[] } }[] };
}
/** The VMI as the tests read it back: the fields they check. */
export interface Vmi {
  metadata: { name: string; namespace: string; annotations?: Record<string, string> };
  spec: {
    domain: {
      devices: { interfaces: { name: string; binding?: { name: string }; model?: string; macAddress?: string }[] };
      memory?: { guest?: string; maxGuest?: string; hugepages?: { pageSize: string }; reservedOverhead?: { addedOverhead?: string; memLock?: string } };
      resources?: { requests?: Record<string, string> };
    };
  };
}

/**
 * In place of a suite when the real control plane is not up (test/cluster/setup.ts's status):
 * skipped for want of what it needs (under CI=true, failed), or failed with why it did not come up.
 */
export function clusterUnavailable(title: string, status: string): void {
  // A KubeVirt version whose refused sources the cache lacks: skipped everywhere, CI included, in one
  // line naming the command that provides them (test/cluster/README.md).
  const skipped = /^skipped: (.*)$/s.exec(status)?.[1];
  if (skipped !== undefined) {
    describe.skip(title, () => it(`${NEEDS}sources the module proxy refuses: ${skipped}`, () => undefined));
    return;
  }
  const missing = /^missing: (.*)$/s.exec(status)?.[1];
  if (missing !== undefined) {
    describeRequiring(title, 'the real control plane', missing, () => undefined);
    return;
  }
  describe(title, () => {
    it('comes up', () => {
      throw new Error(status);
    });
  });
}

export async function until<T>(what: string, read: () => T | undefined, timeoutMs = 30_000): Promise<T> {
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

/** A Namespace with its labels and the example VDUSE NAD, once kube-controller-manager gave it its default ServiceAccount. */
export function namespace(name: string, labels: Record<string, string> = {}, annotations: Record<string, string> = {}): string {
  kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels, annotations } }));
  const nad = parseYaml(readFileSync(projectFile('deploy', 'examples', 'network-attachment-definition.yaml'), 'utf8')) as { metadata: { namespace?: string } };
  nad.metadata.namespace = name;
  kubectl(['apply', '-f', '-'], JSON.stringify(nad));
  // The launcher Pod's admission (ServiceAccount) needs it.
  kubectl(['wait', '--for=create', '--timeout=30s', 'serviceaccount/default', '-n', name]);
  return name;
}

/* eslint-disable @typescript-eslint/no-unsafe-member-access --
   Loose on purpose: the tests change the example VM in place; the API servers check it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type LooseVm = Record<string, any>;

/** kubectl create of the example VM (deploy/examples/vm-plain.yaml) in a Namespace, with changes; kubectl's own result. */
export function createExampleVm(ns: string, change: (vm: LooseVm) => void, extraArgs: string[] = []): { name: string; status: number | null; stdout: string; stderr: string } {
  const vm = parseYaml(readFileSync(projectFile('deploy', 'examples', 'vm-plain.yaml'), 'utf8')) as LooseVm;
  vm.metadata.namespace = ns;
  change(vm);
  const result = spawnSync(join(readState()!.bins.kube, 'kubectl'), ['--kubeconfig', KUBECONFIG, 'create', ...extraArgs, '-f', '-'], { input: stringify(vm), encoding: 'utf8' });
  return { name: vm.metadata.name as string, status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The example VM created, returning what kubectl printed on stderr (the warnings); throws on a denial. */
export function createVm(ns: string, change: (vm: LooseVm) => void = () => undefined): { name: string; warnings: string } {
  const result = createExampleVm(ns, change);
  if (result.status !== 0) throw new Error(result.stderr.trim());
  return { name: result.name, warnings: result.stderr };
}

/** The example VM with more VDUSE Multus networks beside its dataplane, up to `count` in all. */
export function withMoreDataplanes(vm: LooseVm, count: number): void {
  const spec = vm.spec.template.spec as { domain: { devices: { interfaces: object[] } }; networks: object[] };
  for (let index = 2; index <= count; index++) {
    spec.domain.devices.interfaces.push({ name: `dataplane${String(index)}`, bridge: {} });
    spec.networks.push({ name: `dataplane${String(index)}`, multus: { networkName: 'ovs-dpdk-vduse' } });
  }
}

/** The example VM without its cloud-init volume and disk. */
export function withoutCloudInit(vm: LooseVm): void {
  vm.spec.template.spec.volumes = (vm.spec.template.spec.volumes as { cloudInitNoCloud?: unknown }[]).filter((volume) => volume.cloudInitNoCloud === undefined);
  vm.spec.template.spec.domain.devices.disks = (vm.spec.template.spec.domain.devices.disks as { name: string }[]).filter((disk) => disk.name !== 'cloudinitdisk');
}

/**
 * What `virtctl create vm --name NAME --volume-containerdisk ... --run-strategy Always [extra]`
 * prints, created with kubectl in the Namespace; kubectl's stderr (the warnings). Throws on a denial.
 */
export function createWithVirtctl(ns: string, name: string, extra: string[] = []): { name: string; warnings: string } {
  const manifest = execFileSync(join(readState()!.bins.kubevirt, 'virtctl'), ['create', 'vm', '--name', name, '--volume-containerdisk', 'src:containerdisks/fedora:41', '--run-strategy', 'Always', ...extra], { encoding: 'utf8' });
  const result = spawnSync(join(readState()!.bins.kube, 'kubectl'), ['--kubeconfig', KUBECONFIG, 'create', '-n', ns, '-f', '-'], { input: manifest, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(result.stderr.trim());
  return { name, warnings: result.stderr };
}

/** The VMI and the virt-launcher Pod virt-controller made for the VM. */
export async function launched(ns: string, name: string): Promise<{ vmi: Vmi; pod: Pod }> {
  const vmi = await until(`VMI ${ns}/${name}`, () => json<Vmi>(['get', 'vmi', name, '-n', ns]));
  const pod = await until(`virt-launcher Pod of ${ns}/${name}`, () => json<{ items: Pod[] }>(['get', 'pods', '-n', ns, '-l', `vm.kubevirt.io/name=${name}`]).items[0]);
  return { vmi, pod };
}

export const sidecars = (pod: Pod) => pod.spec.containers.filter((container) => container.name.startsWith('hook-sidecar-'));
export const env = (container: Container, name: string) => container.env?.find((variable) => variable.name === name)?.value;
/** A memory quantity in whole bytes, as Kubernetes counts it. */
export function memoryBytes(quantity: string): bigint {
  const parsed = parseQuantity(quantity);
  if (parsed === undefined) throw new Error(`not a memory quantity: ${quantity}`);
  return wholeBytes(parsed);
}

/** A request as a service account, with a token of its own: only what its RBAC allows. */
export async function asServiceAccount(namespace: string, account: string, method: string, path: string, body: unknown, onNode?: string): Promise<void> {
  // A token bound to a Node carries its name, as one from a Pod on that node does (virt-handler's):
  // KubeVirt 1.9's virt-api lets virt-handler change only the VMIs of its own node.
  const token = kubectl(['create', 'token', account, '-n', namespace, ...(onNode ? ['--bound-object-kind', 'Node', '--bound-object-name', onNode] : [])]).trim();
  await new Promise<void>((resolve, reject) => {
    const contentType = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
    const outgoing = httpsRequest(`${API_SERVER}${path}`, { method, ca: readFileSync(CLUSTER_CA), agent: false, headers: { authorization: `Bearer ${token}`, 'content-type': contentType } }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => (response.statusCode === 200 ? resolve() : reject(new Error(`${method} ${path} as ${namespace}/${account}: HTTP ${String(response.statusCode)}: ${text.slice(0, 300)}`))));
    });
    outgoing.on('error', reject);
    outgoing.end(JSON.stringify(body));
  });
}

/**
 * The VMI running on node-a, played step by step since neither kubelet nor virt-handler runs here,
 * once kube-scheduler has bound the Pod to node-a:
 * - Multus: the Pod's network-status, for the interfaces given a NAD;
 * - kubelet: the Pod Running, each container with an image digest
 *   (virt-controller refuses to migrate without reproducible digests);
 * - virt-handler, as its own service account: the VMI Running and LiveMigratable, with the fields
 *   virt-controller's migration controller waits for (selinuxContext, launcher image).
 */
/** The vhost-vDPA device the played device plugin gives each VDUSE network. */
export const PLAYED_DEVICE_INFO = { type: 'vdpa', version: '1.1.0', vdpa: { driver: 'vhost', path: '/dev/vhost-vdpa-0' } };

export async function playRunning(ns: string, name: string, pod: Pod, interfaces: { name: string; mac: string; mtu?: number; nad?: string }[]): Promise<void> {
  // Multus: the network-status of the networks it attached, with the device plugin's device-info.
  const networkStatus = interfaces
    .filter((iface) => iface.nad !== undefined)
    .map((iface) => ({ name: iface.nad, interface: podInterfaceName(iface.name), mac: iface.mac, ...(iface.mtu ? { mtu: iface.mtu } : {}), dns: {}, 'device-info': PLAYED_DEVICE_INFO }));
  if (networkStatus.length > 0) kubectl(['annotate', 'pod', pod.metadata.name, '-n', ns, `k8s.v1.cni.cncf.io/network-status=${JSON.stringify(networkStatus)}`]);
  await until(`kube-scheduler to bind ${pod.metadata.name} to ${NODE}`, () => (json<{ spec: { nodeName?: string } }>(['get', 'pod', pod.metadata.name, '-n', ns]).spec.nodeName === NODE ? true : undefined));
  const now = new Date().toISOString();
  const digest = (image: string) => `${image.split(':')[0]!}@sha256:${createHash('sha256').update(image).digest('hex')}`;
  kubectl(['patch', 'pod', pod.metadata.name, '-n', ns, '--subresource', 'status', '--type', 'merge', '-p', JSON.stringify({
    status: {
      phase: 'Running', podIP: '10.244.0.10', podIPs: [{ ip: '10.244.0.10' }], startTime: now,
      conditions: ['Ready', 'ContainersReady', 'PodScheduled', 'Initialized'].map((type) => ({ type, status: 'True', lastTransitionTime: now })),
      containerStatuses: pod.spec.containers.map((container) => ({ name: container.name, image: container.image, imageID: digest(container.image), ready: true, restartCount: 0, started: true, state: { running: { startedAt: now } } })),
    },
  })]);
  await until('virt-controller to schedule the VMI', () => (json<{ status: { phase?: string } }>(['get', 'vmi', name, '-n', ns]).status.phase === 'Scheduled' ? true : undefined));
  // virt-handler writes the VMI with an update (1.9's RBAC no longer lets it patch; 1.8's allows both).
  const vmi = json<{ status?: object }>(['get', 'vmi', name, '-n', ns]);
  vmi.status = {
    ...vmi.status,
    phase: 'Running', selinuxContext: 'none', migrationMethod: 'LiveMigration', migrationTransport: 'Unix', launcherContainerImageVersion: `virt-launcher:v${readState()!.kubevirt}`,
    conditions: [{ type: 'Ready', status: 'True' }, { type: 'LiveMigratable', status: 'True' }],
    interfaces: interfaces.map(({ name: iface, mac }) => ({ name: iface, mac })),
  };
  await asServiceAccount('kubevirt', 'kubevirt-handler', 'PUT', `/apis/kubevirt.io/v1/namespaces/${ns}/virtualmachineinstances/${name}`, vmi, NODE);
}

/**
 * No virt-handler finishes a migration here: each stays in flight, and virt-controller starts at
 * most two outbound per node (parallelOutboundMigrationsPerNode). Those of earlier cases go first.
 */
export function clearMigrations(): void {
  kubectl(['delete', 'virtualmachineinstancemigrations', '--all', '-A', '--wait=true']);
}

/** A VirtualMachineInstanceMigration through the real virt-api, and the target Pod virt-controller renders for it. */
export async function renderMigrationTarget(ns: string, name: string, migration: string): Promise<Pod> {
  clearMigrations();
  kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', metadata: { name: migration, namespace: ns }, spec: { vmiName: name } }));
  return until(`virt-controller to render the target Pod of ${migration}`, () => {
    const migrationUid = json<{ metadata: { uid: string } }>(['get', 'virtualmachineinstancemigration', migration, '-n', ns]).metadata.uid;
    return json<{ items: (Pod & { metadata: { labels: Record<string, string> } })[] }>(['get', 'pods', '-n', ns, '-l', `vm.kubevirt.io/name=${name}`]).items.find((pod) => pod.metadata.labels['kubevirt.io/migrationJobUID'] === migrationUid);
  });
}

/**
 * kubelet's part of a Pod's deletion, played: once something deleted a bound Pod (its
 * deletionTimestamp is set), kubelet stops its containers and removes it with grace period 0.
 * Returns how many it removed.
 */
export function playPodTermination(ns: string, selector: string): number {
  const terminating = json<{ items: { metadata: { name: string; deletionTimestamp?: string } }[] }>(['get', 'pods', '-n', ns, '-l', selector]).items.filter((pod) => pod.metadata.deletionTimestamp !== undefined);
  for (const pod of terminating) kubectl(['delete', 'pod', pod.metadata.name, '-n', ns, '--grace-period=0', '--force', '--ignore-not-found']);
  return terminating.length;
}

/** The rig's virtctl, with the admin kubeconfig. */
export function virtctl(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(join(readState()!.bins.kubevirt, 'virtctl'), ['--kubeconfig', KUBECONFIG, ...args], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
