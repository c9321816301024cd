// kubevirt-vduse doctor against the local API server, holding objects shaped as a real cluster
// returns them: the KubeVirt CR, the MutatingWebhookConfiguration rendered from deploy/base, the
// webhook Service's EndpointSlice, NetworkAttachmentDefinitions, Namespaces and Nodes. Its answer
// to the probe VM's dry run is played: the webhook's own decision, as the API server would apply
// it; test/cluster/control-plane.test.ts sends the probe through the real API server and webhook.
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createLoopbackPki } from '../../cli/loopback-pki.ts';
import { admit } from '../../webhook/admit.ts';
import { DEFAULT_CONFIG } from '../../webhook/config.ts';
import { StaticClusterView } from '../../webhook/static-cluster.ts';
import { applyIndependently, kubevirtWith, READY_KUBEVIRT } from '../helpers/admission.ts';
import { FakeApiServer } from '../helpers/fake-apiserver.ts';
import { freePort } from '../helpers/processes.ts';
import { projectFile } from '../helpers/fixtures.ts';

/** Asynchronously: the local API server answers from this process. */
function runDoctor(args: string[], environment: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [projectFile('cli', 'main.ts'), 'doctor', ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...environment } }, (_error, stdout, stderr) =>
      resolve({ status: child.exitCode, stdout, stderr }),
    );
  });
}
const doctor = (api: FakeApiServer, ...args: string[]) => runDoctor(['--kubeconfig', api.kubeconfigFile(), ...args]);
const checksOf = async (api: FakeApiServer) => (JSON.parse((await doctor(api, '--output', 'json')).stdout) as { checks: { check: string; status: string; detail: string; fix?: string }[] }).checks;

function webhookConfiguration(caBundle: string) {
  const configuration = parseYaml(readFileSync(projectFile('deploy', 'base', 'mutating-webhook.yaml'), 'utf8')) as { webhooks: { clientConfig: Record<string, unknown> }[] };
  for (const webhook of configuration.webhooks) webhook.clientConfig.caBundle = caBundle;
  return configuration as unknown as { apiVersion: string; kind: string; metadata: { name: string } };
}

const endpointSlice = (ready: boolean) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: 'kubevirt-vduse-webhook-x7k2p', namespace: 'vduse-system', labels: { 'kubernetes.io/service-name': 'kubevirt-vduse-webhook', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
  addressType: 'IPv4',
  endpoints: [{ addresses: ['192.0.2.12'], conditions: { ready, serving: ready, terminating: false }, nodeName: 'worker-0', targetRef: { kind: 'Pod', name: 'kubevirt-vduse-webhook-5d9f7c6b8-abcde', namespace: 'vduse-system' } }],
  ports: [{ name: 'https', port: 8443, protocol: 'TCP' }],
});

const node = (name: string, vduse: string | undefined) => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name, labels: { 'kubernetes.io/hostname': name } },
  status: {
    capacity: { cpu: '32', memory: '131813412Ki', pods: '250', ...(vduse !== undefined ? { 'vduse.io/vduse': vduse } : {}) },
    allocatable: { cpu: '31500m', memory: '130662436Ki', pods: '250', ...(vduse !== undefined ? { 'vduse.io/vduse': vduse } : {}) },
  },
});

/** A kubeconfig naming a server URL, for the unreachable cases. */
function kubeconfigAt(server: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'vduse-doctor-')), 'kubeconfig');
  writeFileSync(path, `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${server}"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n`);
  return path;
}

/** A port nothing listens on. */
const closedPort = freePort;

/**
 * READY_KUBEVIRT on KubeVirt 1.9, where Beta gates are on unless disabled: with ExternalNetResourceInjection
 * disabled, so that virt-controller requests the VDUSE device (doctor's "device requests").
 */
const readyOn19 = () => ({
  ...kubevirtWith((configuration) => Object.assign(configuration.developerConfiguration, { disabledFeatureGates: ['ExternalNetResourceInjection'] })),
  status: { phase: 'Deployed', observedKubeVirtVersion: 'v1.9.0' },
});

/** The API server of a cluster where all is installed, with this KubeVirt CR. */
function readyCluster(api: FakeApiServer, kubevirt: ReturnType<typeof readyOn19>): FakeApiServer {
  api.setKubevirt(kubevirt);
  api.addObject('/apis/admissionregistration.k8s.io/v1', 'mutatingwebhookconfigurations', webhookConfiguration('LS0tLS1CRUdJTi...'));
  api.addObject('/apis/discovery.k8s.io/v1', 'endpointslices', endpointSlice(true));
  api.setNad('telco', 'ovs-vduse-a', 'vduse.io/vduse');
  api.addObject('/api/v1', 'nodes', node('worker-0', '8'));
  api.addObject('/api/v1', 'nodes', node('worker-1', undefined));
  api.setNamespace('default');
  api.onDryRunCreate = throughWebhook;
  return api;
}

/** The API server's answer to a dry-run create that the webhook is sent: the real decision, its patch applied, or its denial as a Status. */
async function throughWebhook(path: string, object: Record<string, unknown>): Promise<{ status: number; body: unknown }> {
  const namespace = path.split('/')[5]!;
  const cluster = new StaticClusterView(new Map([[namespace, { labels: {}, annotations: {} }]]), new Map(), new Map(), READY_KUBEVIRT);
  const decision = await admit({ uid: 'dry-run', kind: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachine' }, operation: 'CREATE', namespace, name: '', dryRun: true, object }, cluster, DEFAULT_CONFIG);
  if (!decision.allowed) return { status: 403, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403, message: `admission webhook "vm-opt-in.vduse.kubevirt.io" denied the request: ${decision.reason}` } };
  return { status: 201, body: applyIndependently(object, decision.patch) };
}

/** kube-apiserver's answer when it cannot reach a webhook whose failurePolicy is Fail. */
const WEBHOOK_REFUSED = {
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  reason: 'InternalError',
  code: 500,
  message:
    'Internal error occurred: failed calling webhook "vm-opt-in.vduse.kubevirt.io": failed to call webhook: Post "https://kubevirt-vduse-webhook.vduse-system.svc:443/mutate?timeout=5s": dial tcp 10.96.12.7:443: connect: connection refused',
};

const lines = (stdout: string) => stdout.split('\n').filter((line) => /^(ok {2}|warn|FAIL) {2}/.test(line));

describe('kubevirt-vduse doctor', () => {
  let ready: FakeApiServer;
  let empty: FakeApiServer;
  beforeAll(async () => {
    ready = readyCluster(await new FakeApiServer().start(), readyOn19());
    ready.setNamespace('telco', { 'vduse.kubevirt.io/policy': 'enabled' });
    ready.setNamespace('lab', { 'vduse.kubevirt.io/policy': 'disabled' });
    empty = await new FakeApiServer().start();
  });
  afterAll(async () => {
    await Promise.all([ready.stop(), empty.stop()]);
  });

  it('prints one line per check and exits 0 on a ready cluster', async () => {
    const result = await doctor(ready);
    expect(result.stderr).toBe('');
    expect(lines(result.stdout).every((line) => line.startsWith('ok  '))).toBe(true);
    expect(lines(result.stdout)).toHaveLength(14);
    expect(result.stdout).toMatch(/ok {4}API server {14}http:\/\/127\.0\.0\.1:\d+ runs Kubernetes v1\.34\.2/);
    expect(result.stdout).toContain('KubeVirt kubevirt/kubevirt runs v1.9.0');
    expect(result.stdout).toContain("KubeVirt v1.9.0 sets the memlock limit on a migration's target before QEMU starts there");
    expect(result.stdout).toContain('1 node(s) have allocatable vduse.io/vduse: worker-0');
    expect(result.stdout).toContain('vduse.kubevirt.io/policy: enabled in telco; disabled in lab');
    expect(result.stdout).toContain('every hook sidecar (ours, and any other binding\'s or hook\'s) gets 128M of memory as its limit and its request');
    expect(result.stdout).toContain('a VMI\'s Pod requests 128M more per sidecar, where KubeVirt alone requests 64M for a dedicated-CPU VMI\'s sidecar and nothing for another\'s');
    expect(result.stdout).toContain('a probe VM in Namespace default (a dry run, nothing stored) came back from the API server with its interface on binding vduse');
    expect(result.stdout).toContain('all 14 checks passed');
    expect(result.status).toBe(0);
    // The probe went through as a dry run, opted in by its label, and nothing was stored.
    const [probe] = ready.dryRuns;
    expect(probe?.path).toBe('/apis/kubevirt.io/v1/namespaces/default/virtualmachines');
    expect(probe?.object).toMatchObject({ metadata: { labels: { 'vduse.kubevirt.io/enabled': 'true' } } });
    expect(ready.created).toEqual([]);
  });

  it.each([
    ['the API server cannot call the webhook', () => Promise.resolve({ status: 500, body: WEBHOOK_REFUSED }), 'fail', 'did not come back: HTTP 500: Internal error occurred: failed calling webhook "vm-opt-in.vduse.kubevirt.io"'],
    ['the webhook is not sent the probe', undefined, 'fail', 'came back without the webhook\'s mutation (binding null): the API server did not send it to the webhook'],
    [
      'doctor may not create VMs',
      () => Promise.resolve({ status: 403, body: { kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403, message: 'virtualmachines.kubevirt.io is forbidden: User "viewer" cannot create resource "virtualmachines" in API group "kubevirt.io" in the namespace "default"' } }),
      'warn',
      'cannot send a probe VM in Namespace default (a dry run, which stores nothing): HTTP 403: virtualmachines.kubevirt.io is forbidden',
    ],
  ] as const)('the webhook answers check, when %s, says so while every other check passes', async (_title, answer, status, detail) => {
    ready.onDryRunCreate = answer;
    try {
      const result = await doctor(ready, '--output', 'json');
      const checks = (JSON.parse(result.stdout) as { checks: { check: string; status: string; detail: string }[] }).checks;
      expect(checks.filter((check) => check.status !== 'ok').map((check) => check.check)).toEqual(['webhook answers']);
      expect(checks.find((check) => check.check === 'webhook answers')).toMatchObject({ status });
      expect(checks.find((check) => check.check === 'webhook answers')!.detail).toContain(detail);
      expect(result.status).toBe(status === 'fail' ? 1 : 0);
    } finally {
      ready.onDryRunCreate = throughWebhook;
    }
  });

  it('on KubeVirt 1.9: warns that virt-controller requests no VDUSE device while the Beta gate ExternalNetResourceInjection is on by default', async () => {
    const onDefaults = await new FakeApiServer().start();
    try {
      onDefaults.setKubevirt({ ...READY_KUBEVIRT, status: { phase: 'Deployed', observedKubeVirtVersion: 'v1.9.0' } });
      const check = (await checksOf(onDefaults)).find((entry) => entry.check === 'device requests')!;
      expect(check.status).toBe('warn');
      expect(check.detail).toContain('a Beta gate, on by default since KubeVirt 1.9');
      expect(check.detail).toContain('asks for no vduse.io/vduse');
      expect(check.fix).toContain('disabledFeatureGates');
      // On 1.8, Beta gates are off unless listed: the same CR is fine there; listed, it is not.
      onDefaults.setKubevirt({ ...READY_KUBEVIRT, status: { phase: 'Deployed', observedKubeVirtVersion: 'v1.8.4' } });
      expect((await checksOf(onDefaults)).find((entry) => entry.check === 'device requests')?.status).toBe('ok');
      onDefaults.setKubevirt({ ...kubevirtWith((configuration) => configuration.developerConfiguration.featureGates.push('ExternalNetResourceInjection')), status: { phase: 'Deployed', observedKubeVirtVersion: 'v1.8.4' } });
      expect((await checksOf(onDefaults)).find((entry) => entry.check === 'device requests')).toMatchObject({ status: 'warn', detail: expect.stringContaining('in featureGates') as unknown });
    } finally {
      await onDefaults.stop();
    }
  });

  it("on KubeVirt 1.9: fails with the Plugins gate and a Plugin CR, whose pipeline drops the rings' sizes; warns with the gate alone", async () => {
    const gated = readyOn19();
    gated.spec.configuration.developerConfiguration.featureGates.push('Plugins');
    const withPlugins = readyCluster(await new FakeApiServer().start(), gated);
    try {
      const alone = (await checksOf(withPlugins)).find((entry) => entry.check === 'plugin pipeline')!;
      expect(alone.status).toBe('warn');
      expect(alone.detail).toContain('no Plugin CR exists yet');
      withPlugins.addObject('/apis/plugin.kubevirt.io/v1alpha1', 'plugins', { apiVersion: 'plugin.kubevirt.io/v1alpha1', kind: 'Plugin', metadata: { name: 'tpm-tuning' } });
      const result = await doctor(withPlugins, '--output', 'json');
      expect(result.status).toBe(1);
      const failed = (JSON.parse(result.stdout) as { checks: { check: string; status: string; detail: string; fix?: string }[] }).checks.filter((entry) => entry.status === 'fail');
      expect(failed.map((entry) => entry.check)).toEqual(['plugin pipeline']);
      expect(failed[0]!.detail).toContain('1 Plugin(s) (tpm-tuning)');
      expect(failed[0]!.detail).toContain('SetDomainSpecStrWithHooks');
      expect(failed[0]!.detail).toContain("QEMU's 256-descriptor rings");
      expect(failed[0]!.fix).toContain('turn the Plugins feature gate off');
    } finally {
      await withPlugins.stop();
    }
  });

  it('names each failure with its fix, and exits 1', async () => {
    const broken = await new FakeApiServer().start();
    try {
      const old = kubevirtWith((configuration) => {
        delete configuration.network.binding['vduse-cloudinit'];
        configuration.developerConfiguration.featureGates = [];
        delete configuration.supportContainerResources;
      });
      broken.setKubevirt({ ...old, status: { observedKubeVirtVersion: 'v1.7.2' } });
      broken.addObject('/apis/admissionregistration.k8s.io/v1', 'mutatingwebhookconfigurations', webhookConfiguration(''));
      broken.addObject('/apis/discovery.k8s.io/v1', 'endpointslices', endpointSlice(false));
      broken.setNad('telco', 'sriov-net', 'intel.com/sriov');
      broken.setNamespace('default');
      broken.setNamespace('telco', { 'vduse.kubevirt.io/policy': 'enable' });
      broken.addObject('/api/v1', 'nodes', node('worker-0', '0'));
      const result = await doctor(broken, '--output', 'json');
      expect(result.status).toBe(1);
      const report = JSON.parse(result.stdout) as { passed: boolean; checks: { check: string; status: string; ok: boolean; detail: string; fix?: string }[] };
      expect(report.passed).toBe(false);
      const failed = Object.fromEntries(report.checks.filter((check) => check.status === 'fail').map((check) => [check.check, check]));
      expect(Object.keys(failed).sort()).toEqual(['KubeVirt version', 'Namespace policies', 'VDUSE devices on nodes', 'binding registration', 'feature gate', 'sidecar resources', 'webhook answers', 'webhook caBundle', 'webhook endpoints']);
      // In the words the webhook denies with, for every VM in it.
      expect(failed['Namespace policies']!.detail).toBe('Namespace telco: label vduse.kubevirt.io/policy: got "enable"; expected one of enabled, disabled (ask the namespace\'s administrator)');
      expect(failed['KubeVirt version']!.detail).toBe('KubeVirt kubevirt/kubevirt runs v1.7.2');
      expect(failed['binding registration']!.detail).toContain('has no network binding "vduse-cloudinit"');
      expect(failed['webhook endpoints']!.fix).toContain('kubectl -n vduse-system get pods,events');
      expect(failed['feature gate']!.fix).toBe('apply deploy/kubevirt/register-vduse.jq');
      for (const check of Object.values(failed)) expect(check.fix, check.check).toBeTruthy();
      // No VDUSE network yet is not a failure of the install.
      expect(report.checks.find((check) => check.check === 'VDUSE networks')).toMatchObject({ status: 'warn', ok: true });
    } finally {
      await broken.stop();
    }
  });

  it('on OpenShift Virtualization, points each fix at the HyperConverged CR: HCO undoes edits to the KubeVirt CR it writes', async () => {
    const hco = await new FakeApiServer().start();
    try {
      const written = kubevirtWith((configuration) => {
        delete configuration.network.binding.vduse;
        configuration.developerConfiguration.featureGates = [];
        delete configuration.supportContainerResources;
      });
      // The label HCO's NewKubeVirt writes (pkg/util/util.go GetLabels); test/cluster/hco.test.ts holds it against HCO's code.
      hco.setKubevirt({ ...written, metadata: { ...written.metadata, labels: { 'app.kubernetes.io/managed-by': 'hco-operator' } }, status: { observedKubeVirtVersion: 'v1.8.4' } });
      const report = JSON.parse((await doctor(hco, '--output', 'json')).stdout) as { checks: { check: string; detail: string; fix?: string }[] };
      const check = (name: string) => report.checks.find((entry) => entry.check === name)!;
      expect(check('binding registration').fix).toBe(
        'apply deploy/kubevirt/hco/networkbinding.jq on the HyperConverged CR, which writes this KubeVirt CR and undoes edits to it (deploy/kubevirt/README.md#openshift-virtualization)',
      );
      expect(check('binding registration').detail).toContain('register it with deploy/kubevirt/hco/networkbinding.jq on the HyperConverged CR');
      for (const name of ['feature gate', 'sidecar resources']) expect(check(name).fix, name).toMatch(/^apply deploy\/kubevirt\/hco\/register-jsonpatch\.jq on the HyperConverged CR/);
      expect(JSON.stringify(report)).not.toContain('register-vduse.jq');
    } finally {
      await hco.stop();
    }
  });

  it('passes a correct install before any VDUSE network exists, with a warning that says so', async () => {
    const installed = await new FakeApiServer().start();
    try {
      installed.setKubevirt(readyOn19());
      installed.addObject('/apis/admissionregistration.k8s.io/v1', 'mutatingwebhookconfigurations', webhookConfiguration('LS0tLS1CRUdJTi...'));
      installed.addObject('/apis/discovery.k8s.io/v1', 'endpointslices', endpointSlice(true));
      installed.addObject('/api/v1', 'nodes', node('worker-0', '8'));
      installed.setNamespace('default');
      installed.onDryRunCreate = throughWebhook;
      const result = await doctor(installed);
      expect(result.stdout).toContain('warn  VDUSE networks');
      expect(result.stdout).toContain('no Namespace has vduse.kubevirt.io/policy yet: VMs opt in by their own label');
      expect(result.stdout).toContain('all 14 checks passed (1 with a warning)');
      expect(result.status).toBe(0);
    } finally {
      await installed.stop();
    }
  });

  it('on KubeVirt 1.8: warns that VDUSE VMs cannot live-migrate, and fails a vduse-cloudinit binding without the sidecar-cloudinit image', async () => {
    const onOld = await new FakeApiServer().start();
    try {
      const plainImageForBoth = kubevirtWith((configuration) => (configuration.network.binding['vduse-cloudinit']!.sidecarImage = 'registry.example/kubevirt-vduse/sidecar:0.1.0'));
      onOld.setKubevirt({ ...plainImageForBoth, status: { phase: 'Deployed', observedKubeVirtVersion: 'v1.8.4' } });
      const result = await doctor(onOld, '--output', 'json');
      const checks = (JSON.parse(result.stdout) as { checks: { check: string; status: string; detail: string; fix?: string }[] }).checks;
      const check = (name: string) => checks.find((entry) => entry.check === name)!;
      expect(check('live migration')).toMatchObject({ status: 'warn' });
      expect(check('live migration').detail).toContain('KubeVirt v1.8.4 sets the memlock limit on a migration\'s target only after the migration');
      expect(check('live migration').fix).toContain('upgrade to KubeVirt 1.9 or later');
      expect(check('binding registration')).toMatchObject({ status: 'fail' });
      expect(check('binding registration').detail).toContain('KubeVirt v1.8.4 does not tell a sidecar its binding');
      // The same registration on 1.9, where KubeVirt names the binding: no failure.
      onOld.setKubevirt({ ...plainImageForBoth, status: { phase: 'Deployed', observedKubeVirtVersion: 'v1.9.0' } });
      const onNew = JSON.parse((await doctor(onOld, '--output', 'json')).stdout) as { checks: { check: string; status: string }[] };
      expect(onNew.checks.find((entry) => entry.check === 'binding registration')).toMatchObject({ status: 'ok' });
    } finally {
      await onOld.stop();
    }
  });

  it('says what it could not read instead of crashing, on a cluster with none of it', async () => {
    const result = await doctor(empty);
    expect(result.status).toBe(1);
    expect(result.stdout).toContain('FAIL  KubeVirt version');
    expect(result.stdout).toContain('no KubeVirt CR in the cluster');
    expect(result.stdout).toContain('cannot read MutatingWebhookConfiguration kubevirt-vduse: HTTP 404');
    expect(result.stdout).toContain('no Namespace the webhook decides on');
    expect(result.stdout).toContain('8 of 11 checks failed (1 with a warning)');
  });

  it.each([
    ['connection refused', async () => `https://127.0.0.1:${await closedPort()}`, /cannot reach https:\/\/127\.0\.0\.1:\d+: connection refused \(connect ECONNREFUSED 127\.0\.0\.1:\d+\)/],
    ['an unknown host', () => Promise.resolve('https://api.cluster.invalid:6443'), /cannot reach https:\/\/api\.cluster\.invalid:6443: DNS: the host name does not resolve \(getaddrinfo (ENOTFOUND|EAI_AGAIN) api\.cluster\.invalid\)/],
    ['a certificate it does not trust', async () => `https://127.0.0.1:${(await untrustedTls()).port}`, /cannot reach https:\/\/127\.0\.0\.1:\d+: TLS \(/],
  ])('when the API server cannot be reached (%s), says so once, with the host and the cause', async (_title, server, message) => {
    const result = await runDoctor(['--kubeconfig', kubeconfigAt(await server())]);
    expect(lines(result.stdout)).toHaveLength(1);
    expect(result.stdout).toMatch(message);
    expect(result.stdout).toContain('fix: check the server in the kubeconfig, and that the cluster is up: kubectl version');
    expect(result.stdout).toContain('1 of 1 checks failed');
    expect(result.status).toBe(1);
  });

  it('finds the kubeconfig as kubectl does: $KUBECONFIG, else ~/.kube/config', async () => {
    const home = mkdtempSync(join(tmpdir(), 'vduse-home-'));
    const viaEnvironment = await runDoctor([], { KUBECONFIG: `/nonexistent/first:${ready.kubeconfigFile()}`, HOME: home });
    expect(viaEnvironment.stdout).toContain('all 14 checks passed');
    mkdirSync(join(home, '.kube'));
    writeFileSync(join(home, '.kube', 'config'), readFileSync(ready.kubeconfigFile()));
    const viaHome = await runDoctor([], { KUBECONFIG: '', HOME: home });
    expect(viaHome.stdout).toContain('all 14 checks passed');
    const none = await runDoctor([], { KUBECONFIG: '', HOME: mkdtempSync(join(tmpdir(), 'vduse-home-')), KUBERNETES_SERVICE_HOST: '' });
    expect(none.status).toBe(1);
    expect(none.stderr).toContain("expected a kubeconfig: --kubeconfig FILE, else $KUBECONFIG, else");
  });

  it('refuses a missing kubeconfig clearly', () => {
    const result = spawnSync(process.execPath, [projectFile('cli', 'main.ts'), 'doctor', '--kubeconfig', '/nonexistent/kubeconfig'], { encoding: 'utf8' });
    expect(result.status).toBe(1);
    const line = JSON.parse(result.stderr.trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'error', command: 'doctor', msg: 'arguments: --kubeconfig: got "/nonexistent/kubeconfig"; expected a readable kubeconfig file (ENOENT)' });
    expect(Number.isNaN(Date.parse(String(line.timestamp)))).toBe(false);
  });
});

/** A TLS server whose self-signed certificate the kubeconfig does not trust. */
let tlsServer: ReturnType<typeof createTlsServer> | undefined;
async function untrustedTls(): Promise<AddressInfo> {
  const pki = createLoopbackPki();
  tlsServer = createTlsServer({ ...pki.issue('stranger') }, (socket) => socket.end());
  await new Promise<void>((resolve) => tlsServer!.listen(0, '127.0.0.1', resolve));
  return tlsServer.address() as AddressInfo;
}
afterAll(() => tlsServer?.close());
