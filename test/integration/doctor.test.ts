// kubevirt-vduse doctor against the local API server, holding objects shaped as a real cluster
// returns them: the KubeVirt CR, the MutatingWebhookConfiguration rendered from deploy/base, the
// webhook Service's EndpointSlice, NetworkAttachmentDefinitions and Nodes.
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { kubevirtWith, READY_KUBEVIRT } from '../helpers/admission.ts';
import { FakeApiServer } from '../helpers/fake-apiserver.ts';
import { projectFile } from '../helpers/fixtures.ts';

/** Asynchronously: the local API server answers from this process. */
function doctor(api: FakeApiServer, ...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [projectFile('cli', 'main.ts'), 'doctor', '--kubeconfig', api.kubeconfigFile(), ...args], { encoding: 'utf8', timeout: 60_000 }, (_error, stdout, stderr) =>
      resolve({ status: child.exitCode, stdout, stderr }),
    );
  });
}

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

describe('kubevirt-vduse doctor', () => {
  let ready: FakeApiServer;
  let empty: FakeApiServer;
  beforeAll(async () => {
    ready = await new FakeApiServer().start();
    ready.setKubevirt(READY_KUBEVIRT);
    ready.addObject('/apis/admissionregistration.k8s.io/v1', 'mutatingwebhookconfigurations', webhookConfiguration('LS0tLS1CRUdJTi...'));
    ready.addObject('/apis/discovery.k8s.io/v1', 'endpointslices', endpointSlice(true));
    ready.setNad('telco', 'ovs-vduse-a', 'vduse.io/vduse');
    ready.addObject('/api/v1', 'nodes', node('worker-0', '8'));
    ready.addObject('/api/v1', 'nodes', node('worker-1', undefined));
    empty = await new FakeApiServer().start();
  });
  afterAll(async () => {
    await Promise.all([ready.stop(), empty.stop()]);
  });

  it('prints one line per check and exits 0 on a ready cluster', async () => {
    const result = await doctor(ready);
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\n').filter((line) => line.startsWith('ok  '))).toHaveLength(8);
    expect(result.stdout).toContain('KubeVirt kubevirt/kubevirt runs v1.8.0');
    expect(result.stdout).toContain('1 node(s) have allocatable vduse.io/vduse: worker-0');
    expect(result.stdout).toContain('all 8 checks passed');
    expect(result.status).toBe(0);
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
      broken.addObject('/api/v1', 'nodes', node('worker-0', '0'));
      const result = await doctor(broken, '--output', 'json');
      expect(result.status).toBe(1);
      const report = JSON.parse(result.stdout) as { passed: boolean; checks: { check: string; ok: boolean; detail: string; fix?: string }[] };
      expect(report.passed).toBe(false);
      const failed = Object.fromEntries(report.checks.filter((check) => !check.ok).map((check) => [check.check, check]));
      expect(Object.keys(failed).sort()).toEqual(['KubeVirt version', 'VDUSE devices on nodes', 'VDUSE networks', 'binding registration', 'feature gate', 'sidecar resources', 'webhook caBundle', 'webhook endpoints']);
      expect(failed['KubeVirt version']!.detail).toBe('KubeVirt kubevirt/kubevirt runs v1.7.2');
      expect(failed['binding registration']!.detail).toContain('has no network binding "vduse-cloudinit"');
      expect(failed['webhook endpoints']!.fix).toContain('kubectl -n vduse-system get pods,events');
      for (const check of Object.values(failed)) expect(check.fix, check.check).toBeTruthy();
    } finally {
      await broken.stop();
    }
  });

  it('says what it could not read instead of crashing, on a cluster with none of it', async () => {
    const result = await doctor(empty);
    expect(result.status).toBe(1);
    expect(result.stdout).toContain('FAIL  KubeVirt version');
    expect(result.stdout).toContain('no KubeVirt CR in the cluster');
    expect(result.stdout).toContain('cannot read MutatingWebhookConfiguration kubevirt-vduse: HTTP 404');
    expect(result.stdout).toContain('8 of 8 checks failed');
  });

  it('refuses a missing kubeconfig clearly', () => {
    const result = spawnSync(process.execPath, [projectFile('cli', 'main.ts'), 'doctor', '--kubeconfig', '/nonexistent/kubeconfig'], { encoding: 'utf8' });
    expect(result.status).toBe(1);
    const line = JSON.parse(result.stderr.trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'error', command: 'doctor', msg: 'arguments: --kubeconfig: got "/nonexistent/kubeconfig"; expected a readable file (ENOENT)' });
    expect(Number.isNaN(Date.parse(String(line.timestamp)))).toBe(false);
  });
});
