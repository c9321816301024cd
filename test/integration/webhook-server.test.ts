// The webhook served for real: HTTPS with a certificate made by openssl, client-node informers
// against a local list/watch server, AdmissionReviews built from KubeVirt's objects.
import { X509Certificate } from 'node:crypto';
import { Agent } from 'node:https';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { connect } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VirtualMachine } from '../../api/kubevirt.ts';
import { InformerClusterView } from '../../webhook/cluster-cache.ts';
import { DEFAULT_CONFIG } from '../../webhook/config.ts';
import { createWebhookMetrics } from '../../webhook/metrics.ts';
import { startWebhookServer, type WebhookServer } from '../../webhook/server.ts';
import { applyIndependently, READY_KUBEVIRT } from '../helpers/admission.ts';
import { createLoopbackPki, type LoopbackPki } from '../../cli/loopback-pki.ts';
import { FakeApiServer } from '../helpers/fake-apiserver.ts';
import { schemaErrors } from '../helpers/kubevirt-schema.ts';
import { NAMESPACE, roundTripVm, VDUSE_RESOURCE, virtctlVm, vmWith } from '../helpers/vms.ts';
import { admissionAnswer, capturedLogger, decodedPatch, kubeConfigFor, postJson, reviewOf } from '../helpers/webhook-client.ts';
import { ClusterClients } from '../../cluster/clients.ts';

async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const healthGet = async (port: number, path: string) => {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, text: await response.text() };
};

describe('webhook server', () => {
  let pki: LoopbackPki;
  let api: FakeApiServer;
  let server: WebhookServer;
  let cluster: InformerClusterView;
  let logs: ReturnType<typeof capturedLogger>;
  let leaf: ReturnType<LoopbackPki['issue']>;
  const post = (body: unknown, options?: Parameters<typeof postJson>[3]) => postJson(server.port, pki.ca, typeof body === 'string' ? body : JSON.stringify(body), options);

  beforeAll(async () => {
    pki = createLoopbackPki();
    api = await new FakeApiServer().start();
    api.setNamespace(NAMESPACE, { 'vduse.kubevirt.io/policy': 'enabled' });
    api.setNamespace('plain');
    api.setNad(NAMESPACE, 'ovs-vduse-a', VDUSE_RESOURCE);
    api.setNad(NAMESPACE, 'sriov-net', 'intel.com/sriov');
    logs = capturedLogger();
    const metrics = createWebhookMetrics();
    cluster = new InformerClusterView(new ClusterClients(kubeConfigFor(api.kubeconfigFile())), logs.log, metrics, { getTimeoutMs: 2000, restartDelayMs: { initial: 50, max: 400 } });
    leaf = pki.issue('webhook-1');
    server = await startWebhookServer({ port: 0, healthPort: 0, host: '127.0.0.1', tls: leaf, cluster, config: () => DEFAULT_CONFIG, log: logs.log, metrics });
    expect((await healthGet(server.healthPort, '/readyz')).status).toBe(503);
    cluster.start();
    await until(() => server.ready(), 5000, 'caches to sync');
  });

  afterAll(async () => {
    cluster.stop();
    await server.close();
    await api.stop();
  });

  it('mutates a VM on a VDUSE network, answering with its uid and a JSON patch that validates against KubeVirt', async () => {
    const vm = vmWith({ multus: { dataplane: 'ovs-vduse-a', storage: 'sriov-net' }, interfaceFields: { dataplane: { macAddress: '02:00:00:00:00:10' } } });
    const review = reviewOf(vm, { uid: 'uid-1' });
    const answer = await post(review);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });
    const response = admissionAnswer(answer);
    expect(response).toMatchObject({ uid: 'uid-1', allowed: true, patchType: 'JSONPatch' });
    expect(response.warnings).toContain('vduse: interfaces dataplane now use binding vduse');
    expect(response.auditAnnotations).toMatchObject({ decision: 'mutated', interfaces: 'dataplane' });
    const mutated = applyIndependently<VirtualMachine>(vm, decodedPatch(answer) as never);
    expect(mutated.spec.template.spec!.domain.devices.interfaces![1]).toEqual({ name: 'dataplane', macAddress: '02:00:00:00:00:10', model: 'virtio', binding: { name: 'vduse' } });
    expect(schemaErrors('v1.VirtualMachine', mutated)).toEqual([]);
    // The API server sends the mutated object again (reinvocationPolicy: IfNeeded): nothing more to do.
    const again = admissionAnswer(await post(reviewOf(mutated, { operation: 'UPDATE' })));
    expect(again).toMatchObject({ allowed: true });
    expect(again.patch).toBeUndefined();
  });

  it('reads the instancetype a virtctl VM names, and its ControllerRevision, with GETs: the overhead comes from its guest memory', async () => {
    api.setNamespace('primary', { 'vduse.kubevirt.io/policy': 'enabled' }, { 'vduse.kubevirt.io/pod-network': 'vduse' });
    const instancetypes = '/apis/instancetype.kubevirt.io/v1beta1';
    api.addObject(instancetypes, 'virtualmachineclusterinstancetypes', { apiVersion: 'instancetype.kubevirt.io/v1beta1', kind: 'VirtualMachineClusterInstancetype', metadata: { name: 'u1.medium' }, spec: { cpu: { guest: 1 }, memory: { guest: '4Gi' } } } as never);
    api.addObject('/apis/apps/v1', 'controllerrevisions', {
      apiVersion: 'apps/v1',
      kind: 'ControllerRevision',
      metadata: { name: 'vm-virtctl-u1.medium-v1beta1-1', namespace: 'primary' },
      data: { apiVersion: 'instancetype.kubevirt.io/v1beta1', kind: 'VirtualMachineClusterInstancetype', metadata: { name: 'u1.medium' }, spec: { cpu: { guest: 1 }, memory: { guest: '2Gi' } } },
      revision: 1,
    } as never);
    await until(async () => (await cluster.namespace('primary')).state === 'found', 2000, 'the new Namespace');
    const vm = virtctlVm({ instancetype: 'u1.medium' });
    vm.metadata!.namespace = 'primary';
    const answer = await post(reviewOf(vm));
    expect(admissionAnswer(answer).allowed).toBe(true);
    const mutated = applyIndependently<VirtualMachine>(vm, decodedPatch(answer) as never);
    expect(mutated.spec.template.spec!.networks).toEqual([{ name: 'default', pod: {} }]);
    expect(mutated.spec.template.spec!.domain.memory).toEqual({ reservedOverhead: { memLock: 'Required', addedOverhead: '1Gi' } });
    expect(schemaErrors('v1.VirtualMachine', mutated)).toEqual([]);

    (vm.spec as unknown as Record<string, unknown>).instancetype = { kind: 'VirtualMachineClusterInstancetype', name: 'u1.medium', revisionName: 'vm-virtctl-u1.medium-v1beta1-1' };
    vm.spec.template.spec!.networks = [{ name: 'default', pod: {} }, { name: 'dataplane', multus: { networkName: 'ovs-vduse-a' } }];
    vm.spec.template.spec!.domain.devices.interfaces = [{ name: 'default', masquerade: {} }, { name: 'dataplane', bridge: {} }];
    api.setNad('primary', 'ovs-vduse-a', VDUSE_RESOURCE);
    await until(async () => (await cluster.nad('primary/ovs-vduse-a')).state === 'found', 2000, 'the new NAD');
    const revised = applyIndependently<VirtualMachine>(vm, decodedPatch(await post(reviewOf(vm))) as never);
    // Two interfaces on a 2Gi guest (the revision's, not the object's 4Gi): memory hotplug off
    // (maxGuest 2Gi, memory-hotplug auto), 2 x 2Gi + 1Gi - 2Gi.
    expect(revised.spec.template.spec!.domain.memory).toMatchObject({ maxGuest: '2Gi', reservedOverhead: { addedOverhead: '3Gi' } });

    (vm.spec as unknown as Record<string, unknown>).instancetype = { kind: 'VirtualMachineClusterInstancetype', name: 'u1.gone' };
    const missing = admissionAnswer(await post(reviewOf(vm)));
    expect(missing.allowed).toBe(false);
    expect(missing.status?.message).toContain('spec.instancetype names VirtualMachineClusterInstancetype "u1.gone", which does not exist');
  });

  it('watches the KubeVirt CR: warns while there is none, denies with the fix while the feature gate is missing', async () => {
    const vm = vmWith({ multus: { dataplane: 'ovs-vduse-a' } });
    const before = admissionAnswer(await post(reviewOf(vm)));
    expect(before.allowed).toBe(true);
    expect(before.warnings).toContain('vduse: KubeVirt CR not found: binding, feature gate and sidecar memory unchecked');
    const withoutGate = structuredClone(READY_KUBEVIRT);
    withoutGate.spec.configuration.developerConfiguration.featureGates = ['Snapshot'];
    api.setKubevirt(withoutGate);
    await until(async () => (await cluster.kubevirt()).state === 'found', 3000, 'the KubeVirt CR');
    const denied = admissionAnswer(await post(reviewOf(vm)));
    expect(denied.allowed).toBe(false);
    expect(denied.status?.message).toContain('lacks the ReservedOverheadMemlock feature gate');
    api.setKubevirt(READY_KUBEVIRT);
    await until(async () => admissionAnswer(await post(reviewOf(vm))).allowed, 3000, 'the fixed KubeVirt CR');
    expect(admissionAnswer(await post(reviewOf(vm))).warnings?.join()).not.toContain('KubeVirt CR');
  });

  it("answers KubeVirt's round-trip VM (every field set) without error, and a dry run the same way", async () => {
    const vm = roundTripVm();
    vm.metadata.namespace = NAMESPACE;
    for (const dryRun of [false, true]) {
      const answer = await post(reviewOf(vm, { namespace: NAMESPACE, dryRun }));
      expect(answer.status).toBe(200);
      // Its networks reference no VDUSE NetworkAttachmentDefinition: admitted unchanged.
      expect(admissionAnswer(answer)).toMatchObject({ allowed: true });
      expect(admissionAnswer(answer).patch).toBeUndefined();
    }
  });

  it('denies with a message a VM that asks for VDUSE in a disabled Namespace, as a Kubernetes Forbidden', async () => {
    api.setNamespace('locked', { 'vduse.kubevirt.io/policy': 'disabled' });
    const vm = vmWith({ multus: { dataplane: 'ovs-vduse-a' }, labels: { 'vduse.kubevirt.io/enabled': 'true' } });
    vm.metadata!.namespace = 'locked';
    await until(async () => (await cluster.namespace('locked')).state === 'found', 2000, 'the new Namespace');
    const response = admissionAnswer(await post(reviewOf(vm)));
    expect(response.allowed).toBe(false);
    expect(response.status?.message).toContain('Namespace locked has vduse.kubevirt.io/policy=disabled');
    // With the reason, kubectl prints "Error from server (Forbidden):", as docs/troubleshooting.md quotes.
    expect(response.status).toMatchObject({ code: 403, reason: 'Forbidden' });
  });

  it('admits objects of other kinds unchanged', async () => {
    const review = reviewOf({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: NAMESPACE } });
    review.request.kind = { group: '', version: 'v1', kind: 'Pod' };
    const answer = await post(review);
    expect(answer.status).toBe(200);
    expect(admissionAnswer(answer)).toMatchObject({ allowed: true });
    expect(admissionAnswer(answer).patch).toBeUndefined();
  });

  describe('refuses what is not a well-formed AdmissionReview with HTTP 400 and says why', () => {
    const valid = () => reviewOf(vmWith());
    it.each([
      ['not JSON', '{"apiVersion": ', 'not JSON'],
      ['a JSON array', '[]', 'AdmissionReview: (body): got []; expected a JSON object'],
      ['a wrong apiVersion', { ...valid(), apiVersion: 'admission.k8s.io/v1beta1' }, 'apiVersion: got "admission.k8s.io/v1beta1"; expected "admission.k8s.io/v1"'],
      ['no request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, 'request: missing; expected an object'],
      ['no uid', { ...valid(), request: { ...valid().request, uid: undefined } }, 'request.uid: missing'],
      ['no object on CREATE', { ...valid(), request: { ...valid().request, object: undefined } }, 'request.object: missing; expected the object, for CREATE'],
    ])('%s', async (_title, body, message) => {
      const answer = await post(body);
      expect(answer.status).toBe(400);
      expect(String(answer.body.error)).toContain(message);
    });

    it('a body over 8 MiB', async () => {
      const vm = vmWith();
      vm.metadata!.annotations = { padding: 'x'.repeat(9 * 1024 * 1024) };
      const answer = await post(reviewOf(vm));
      expect(answer.status).toBe(400);
      expect(String(answer.body.error)).toContain('larger than the 8 MiB limit');
    });

    it('a wrong content type', async () => {
      const answer = await post(valid(), { contentType: 'text/plain' });
      expect(answer.status).toBe(400);
      expect(String(answer.body.error)).toContain('Content-Type: got "text/plain"; expected application/json');
    });
  });

  it('logs one line per review with uid, kind, object, operation, dryRun, decision and operation count, and no object body', async () => {
    const vm = vmWith({ multus: { dataplane: 'ovs-vduse-a' } });
    vm.metadata!.annotations = { 'secret-looking': 'hunter2-do-not-log' };
    await post(reviewOf(vm, { uid: 'uid-log' }));
    const line = logs.lines().find((entry) => entry.uid === 'uid-log');
    expect(line).toMatchObject({ kind: 'VirtualMachine', object: `${NAMESPACE}/vm-cirros`, operation: 'CREATE', dryRun: false, decision: 'mutated' });
    expect(line!.operations).toBeGreaterThan(0);
    const everything = JSON.stringify(logs.lines());
    expect(everything).not.toContain('hunter2-do-not-log');
    expect(everything).not.toContain('cirros-container-disk-demo');
  });

  it('speaks TLS 1.2 and 1.3, and refuses TLS 1.1', async () => {
    const handshake = (maxVersion: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3', minVersion: 'TLSv1' | 'TLSv1.2' | 'TLSv1.3') =>
      new Promise<string>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: server.port, ca: pki.ca, minVersion, maxVersion, servername: 'localhost' }, () => {
          resolve(socket.getProtocol() ?? '');
          socket.end();
        });
        socket.on('error', reject);
      });
    expect(await handshake('TLSv1.2', 'TLSv1.2')).toBe('TLSv1.2');
    expect(await handshake('TLSv1.3', 'TLSv1.3')).toBe('TLSv1.3');
    await expect(handshake('TLSv1.1', 'TLSv1')).rejects.toThrow();
  });

  it('serves health, readiness and metrics on the health port', async () => {
    expect(await healthGet(server.healthPort, '/healthz')).toEqual({ status: 200, text: 'ok\n' });
    expect((await healthGet(server.healthPort, '/readyz')).status).toBe(200);
    const metrics = await healthGet(server.healthPort, '/metrics');
    expect(metrics.text).toMatch(/vduse_webhook_admissions_total\{kind="VirtualMachine",operation="CREATE",outcome="mutated"\} [1-9]/);
    expect(metrics.text).toContain('vduse_webhook_ready 1');
    const expiry = Number(/^vduse_webhook_certificate_expiry_timestamp_seconds (\S+)$/m.exec(metrics.text)![1]);
    expect(expiry).toBe(Date.parse(new X509Certificate(leaf.cert).validTo) / 1000);
  });

  it('swaps the certificate while requests flow, with none failing', async () => {
    // No keep-alive: every request is a new handshake, so each meets whichever certificate is current.
    const agent = new Agent({ keepAlive: false });
    const vm = vmWith({ multus: { dataplane: 'ovs-vduse-a' } });
    let stop = false;
    let served = 0;
    const failures: unknown[] = [];
    const serials = new Set<string>();
    const flow = async () => {
      while (!stop) {
        try {
          const answer = await post(reviewOf(vm), { agent });
          if (answer.status !== 200) failures.push(answer.status);
          serials.add(answer.certificateSerial);
          served++;
        } catch (error) {
          failures.push(error);
        }
      }
    };
    const flows = [flow(), flow(), flow(), flow()];
    for (let round = 2; round <= 4; round++) {
      await sleep(100);
      server.setCertificate(pki.issue(`webhook-${round}`));
    }
    await sleep(100);
    stop = true;
    await Promise.all(flows);
    expect(failures).toEqual([]);
    expect(served).toBeGreaterThan(20);
    expect(serials.size).toBeGreaterThanOrEqual(3);
  });

  it('keeps the old certificate when handed a key that does not match', async () => {
    const good = pki.issue('webhook-good');
    const other = pki.issue('webhook-other');
    expect(() => server.setCertificate({ cert: good.cert, key: other.key })).toThrow();
    expect((await post(reviewOf(vmWith()))).status).toBe(200);
  });

  describe('informer resilience', () => {
    it('sees objects added after the sync through the watch', async () => {
      const cachedBefore = cluster.cachedCounts().nads;
      api.setNad(NAMESPACE, 'late-vduse', VDUSE_RESOURCE);
      await until(() => cluster.cachedCounts().nads > cachedBefore, 2000, 'the watch event');
      const requestsBefore = api.requests.length;
      expect(await cluster.nad(`${NAMESPACE}/late-vduse`)).toEqual({ state: 'found', value: { resourceName: VDUSE_RESOURCE } });
      // Served from the cache, not a GET.
      expect(api.requests.slice(requestsBefore)).toEqual([]);
    });

    it('recovers from a dropped watch and from 410 Gone', async () => {
      api.cutWatches();
      api.setNamespace('after-cut', { 'vduse.kubevirt.io/policy': 'enabled' });
      await until(() => api.requests.filter((line) => line === 'GET /api/v1/namespaces?watch').length >= 2, 5000, 'a new watch');
      api.expireWatches();
      api.setNad('after-cut', 'ovs-vduse', VDUSE_RESOURCE);
      const requestsBefore = api.requests.length;
      await until(() => api.requests.slice(requestsBefore).includes('GET /apis/k8s.cni.cncf.io/v1/network-attachment-definitions'), 5000, 'a relist after 410');
      await until(() => server.ready(), 5000, 'readiness');
      const vm = vmWith({ multus: { dataplane: 'ovs-vduse' } });
      vm.metadata!.namespace = 'after-cut';
      expect(admissionAnswer(await post(reviewOf(vm))).auditAnnotations).toMatchObject({ decision: 'mutated' });
    });

    it('goes unready while the API answers 500, restarts with backoff, and becomes ready again', async () => {
      api.failFor(1500);
      api.cutWatches();
      await until(() => !server.ready(), 3000, 'unready');
      expect((await healthGet(server.healthPort, '/readyz')).status).toBe(503);
      // A review meanwhile is answered within the GET timeout, denied (onLookupFailure: deny) or from the cache.
      const started = Date.now();
      const answer = await post(reviewOf(vmWith({ multus: { dataplane: 'ovs-vduse-a' } })));
      expect(answer.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(2500);
      await until(() => server.ready(), 8000, 'ready again');
      expect((await healthGet(server.healthPort, '/readyz')).status).toBe(200);
      const restarts = await healthGet(server.healthPort, '/metrics');
      expect(restarts.text).toMatch(/vduse_webhook_informer_restarts_total\{resource="namespaces"\} [1-9]/);
    });

    it('falls back to a GET on a cache miss, and gives up after 2 s', async () => {
      api.getDelayMs = 3000;
      const started = Date.now();
      const lookup = await cluster.nad(`${NAMESPACE}/never-created`);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
      expect(Date.now() - started).toBeLessThan(2900);
      expect(lookup).toMatchObject({ state: 'failed' });
      api.getDelayMs = 0;
      expect(await cluster.nad(`${NAMESPACE}/never-created`)).toEqual({ state: 'absent' });
    });
  });
});

describe('the webhook cannot reach the API server', () => {
  it('logs the cause with the address, as doctor says it, and stays unready', async () => {
    const closed = createNetServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, skipTLSVerify: false }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
      currentContext: 'c',
    });
    const logs = capturedLogger();
    const cluster = new InformerClusterView(new ClusterClients(kubeConfig), logs.log, createWebhookMetrics(), { getTimeoutMs: 500, restartDelayMs: { initial: 50, max: 100 } });
    cluster.start();
    try {
      await until(() => logs.lines().some((line) => line.msg === 'watch failed; restarting'), 5000, 'a failed watch');
      const failed = logs.lines().find((line) => line.msg === 'watch failed; restarting')!;
      expect(failed.error).toBe(`cannot reach the API server: connection refused (connect ECONNREFUSED 127.0.0.1:${port})`);
      expect(cluster.synced).toBe(false);
    } finally {
      cluster.stop();
    }
  });
});
