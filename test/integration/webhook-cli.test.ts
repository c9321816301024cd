// `kubevirt-vduse webhook` and `kubevirt-vduse mutate` as separate processes: start-up errors,
// config reload, draining on SIGTERM, and the offline decision with its exit codes.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import type { VirtualMachine } from '../../api/kubevirt.ts';
import { createLoopbackPki } from '../../cli/loopback-pki.ts';
import { kubevirtWith, READY_KUBEVIRT } from '../helpers/admission.ts';
import { FakeApiServer } from '../helpers/fake-apiserver.ts';
import { projectFile } from '../helpers/fixtures.ts';
import { schemaErrors } from '../helpers/kubevirt-schema.ts';
import { NAMESPACE, VDUSE_RESOURCE, vmWith } from '../helpers/vms.ts';
import { admissionAnswer, postJson, reviewOf } from '../helpers/webhook-client.ts';

const MAIN = projectFile('cli', 'main.ts');
const dir = mkdtempSync(join(tmpdir(), 'vduse-webhook-cli-'));
const file = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

/** stderr is JSON lines when not a terminal: the messages, one per line. */
const messages = (stderr: string) =>
  stderr
    .split('\n')
    .filter(Boolean)
    .map((line) => (line.startsWith('{') ? String((JSON.parse(line) as { msg: unknown }).msg) : line))
    .join('\n');

function cli(args: string[], input?: string) {
  const result = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', input, timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: messages(result.stderr) };
}

describe('kubevirt-vduse mutate', () => {
  const vmFile = file('vm.yaml', stringify(vmWith({ multus: { dataplane: 'ovs-vduse-a' } })));

  it('prints the mutated VM and the warnings, exit 0', () => {
    const result = cli(['mutate', '--file', vmFile, '--namespace-labels', 'vduse.kubevirt.io/policy=enabled', '--nad', `ovs-vduse-a=${VDUSE_RESOURCE}`]);
    expect(result.status).toBe(0);
    expect(result.stderr).toContain('Warning: vduse: interfaces dataplane now use binding vduse');
    const mutated = parseYaml(result.stdout) as VirtualMachine;
    expect(mutated.spec.template.spec!.domain.devices.interfaces![1]).toEqual({ name: 'dataplane', model: 'virtio', binding: { name: 'vduse' } });
    expect(schemaErrors('v1.VirtualMachine', mutated)).toEqual([]);
  });

  it('checks the KubeVirt CR as kubectl get kubevirt -A -o yaml prints it (a List), says "not given" without one, and refuses a List of another size', () => {
    const list = (items: unknown[]) => file(`kubevirts-${items.length}.yaml`, stringify({ apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items }));
    const missingGate = kubevirtWith((configuration) => (configuration.developerConfiguration.featureGates = []));
    const base = ['mutate', '--file', vmFile, '--namespace-labels', 'vduse.kubevirt.io/policy=enabled', '--nad', `ovs-vduse-a=${VDUSE_RESOURCE}`];
    const fromList = cli([...base, '--kubevirt', list([missingGate])]);
    expect(fromList.status).toBe(2);
    expect(fromList.stderr).toContain('lacks the ReservedOverheadMemlock feature gate');
    expect(cli([...base, '--kubevirt', file('kubevirt.yaml', stringify(READY_KUBEVIRT))]).status).toBe(0);
    const none = cli(base);
    expect(none.status).toBe(0);
    expect(none.stderr).toContain('Warning: vduse: KubeVirt CR not given (mutate --kubevirt FILE): binding, feature gate and sidecar memory unchecked');
    expect(none.stderr).not.toContain('not found');
    const two = cli([...base, '--kubevirt', list([READY_KUBEVIRT, READY_KUBEVIRT])]);
    expect(two.status).toBe(1);
    expect(two.stderr).toContain('items: got "2 item(s), 2 of them KubeVirt"; expected a List with exactly one kubevirt.io/v1 KubeVirt');
    const pod = cli([...base, '--kubevirt', file('pod.yaml', 'apiVersion: v1\nkind: Pod\n')]);
    expect(pod.stderr).toContain('expected a kubevirt.io/v1 KubeVirt, or the List of one that kubectl get kubevirt -A -o yaml prints');
  });

  it('takes the Namespace as an object, so annotation values may hold commas', () => {
    const namespace = file(
      'namespace.yaml',
      stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE, labels: { 'vduse.kubevirt.io/policy': 'enabled' }, annotations: { 'vduse.kubevirt.io/coalesce': 'rx-usecs=64,tx-usecs=32' } } }),
    );
    const result = cli(['mutate', '--file', vmFile, '--namespace', namespace, '--nad', `ovs-vduse-a=${VDUSE_RESOURCE}`]);
    expect(result.status).toBe(0);
    const mutated = parseYaml(result.stdout) as VirtualMachine;
    expect(mutated.spec.template.metadata!.annotations!['vduse.kubevirt.io/coalesce']).toBe('rx-usecs=64,tx-usecs=32');

    const other = file('other.yaml', stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'elsewhere' } }));
    const wrong = cli(['mutate', '--file', vmFile, '--namespace', other]);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain(`metadata.name: got "elsewhere"; expected ${NAMESPACE}, the object's namespace`);
  });

  it('prints the VM unchanged when nothing asks for VDUSE', () => {
    const result = cli(['mutate', '--file', vmFile, '--output', 'json']);
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(parseYaml(stringify(vmWith({ multus: { dataplane: 'ovs-vduse-a' } }))));
    expect(result.stderr).toContain('skipped: no opt-in label');
  });

  it('exits 2 with the reason when the webhook would deny', () => {
    const asking = file('asking.yaml', stringify(vmWith({ multus: { dataplane: 'ovs-vduse-a' }, labels: { 'vduse.kubevirt.io/enabled': 'true' } })));
    const result = cli(['mutate', '--file', asking, '--namespace-labels', 'vduse.kubevirt.io/policy=disabled']);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('denied: VirtualMachine telco/vm-cirros asks for VDUSE networking');
  });

  it.each([
    ['a file that is not a KubeVirt object', ['--file', file('pod.yaml', 'apiVersion: v1\nkind: Pod\n')], 'apiVersion/kind: got "v1/Pod"; expected a kubevirt.io/v1 VirtualMachine or VirtualMachineInstance'],
    ['a malformed --nad', ['--file', vmFile, '--nad', 'noequals'], '--nad: got "noequals"'],
    ['an unknown --operation', ['--file', vmFile, '--operation', 'DELETE'], '--operation: got "DELETE"; expected CREATE or UPDATE'],
  ])('exits 1 on %s, naming it', (_title, args, message) => {
    const result = cli(['mutate', ...args]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(message);
  });
});

describe('kubevirt-vduse webhook', () => {
  let api: FakeApiServer;
  const pki = createLoopbackPki();
  const leaf = pki.issue('webhook-cli');

  beforeAll(async () => {
    api = await new FakeApiServer().start();
    api.setNamespace(NAMESPACE, { 'vduse.kubevirt.io/policy': 'enabled' });
    api.setNad(NAMESPACE, 'ovs-vduse-a', VDUSE_RESOURCE);
  });
  afterAll(() => api.stop());

  function startWebhook(extra: string[]) {
    const child = spawn(
      process.execPath,
      [MAIN, 'webhook', '--tls-cert', leaf.certPath, '--tls-key', leaf.keyPath, '--port', '0', '--health-port', '0', '--kubeconfig', api.kubeconfigFile(), '--reload-interval', '100ms', ...extra],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const lines = () => output.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
    const serving = async () => {
      for (let waited = 0; ; waited += 20) {
        const line = lines().find((entry) => entry.msg === 'serving');
        if (line) return line as { port: number; healthPort: number };
        if (waited > 15_000 || child.exitCode !== null) throw new Error(`webhook did not start: ${output}`);
        await sleep(20);
      }
    };
    return { child, exited, lines, serving, output: () => output };
  }

  it('exits 1 naming the flag when there is no kubeconfig outside a pod', () => {
    const home = mkdtempSync(join(tmpdir(), 'vduse-home-'));
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, KUBECONFIG: '' };
    delete env.KUBERNETES_SERVICE_HOST;
    const result = spawnSync(process.execPath, [MAIN, 'webhook', '--tls-cert', leaf.certPath, '--tls-key', leaf.keyPath], { encoding: 'utf8', env, timeout: 30_000 });
    expect(result.status).toBe(1);
    expect(messages(result.stderr)).toContain(`arguments: --kubeconfig: missing; expected a kubeconfig: --kubeconfig FILE, else $KUBECONFIG, else ${home}/.kube/config, else a pod's service account; none of them is there`);
  });

  it('exits with the error on an invalid config at start-up, before listening', async () => {
    const webhook = startWebhook(['--config', file('bad.yaml', 'onLookupFailure: sometimes\n')]);
    expect(await webhook.exited).toBe(1);
    expect(messages(webhook.output())).toContain('onLookupFailure: got "sometimes"; expected one of deny, allow');
    expect(webhook.lines().some((line) => line.msg === 'serving')).toBe(false);
  });

  it('reloads a changed config, keeps the old one when the new one is invalid, and drains on SIGTERM', async () => {
    const configPath = file('config.yaml', 'pluginName: vduse\n');
    const webhook = startWebhook(['--config', configPath]);
    const { port } = await webhook.serving();
    const vm = vmWith({ multus: { dataplane: 'ovs-vduse-a' } });
    const binding = async () => {
      const answer = await postJson(port, pki.ca, JSON.stringify(reviewOf(vm)));
      return admissionAnswer(answer).warnings?.join() ?? '';
    };
    expect(await binding()).toContain('binding vduse');

    // A ConfigMap update swaps the file; the webhook sees the new content.
    writeFileSync(join(dir, 'config.next'), 'pluginName: vduse-dpdk\n');
    renameSync(join(dir, 'config.next'), configPath);
    for (let waited = 0; !(await binding()).includes('vduse-dpdk'); waited += 50) {
      if (waited > 5000) throw new Error(`config not reloaded: ${webhook.output()}`);
      await sleep(50);
    }

    writeFileSync(configPath, 'pluginName: [not, a, name]\n');
    for (let waited = 0; !webhook.lines().some((line) => line.msg === 'config not reloaded; keeping the previous one'); waited += 50) {
      if (waited > 5000) throw new Error(`invalid config not reported: ${webhook.output()}`);
      await sleep(50);
    }
    expect(await binding()).toContain('binding vduse-dpdk');

    // A review in flight when SIGTERM arrives still gets its answer: its NAD lookup is a slow GET.
    api.getDelayMs = 700;
    const slow = vmWith({ multus: { dataplane: 'not-cached' } });
    const inFlight = postJson(port, pki.ca, JSON.stringify(reviewOf(slow)));
    await sleep(200);
    webhook.child.kill('SIGTERM');
    const answer = await inFlight;
    api.getDelayMs = 0;
    expect(answer.status).toBe(200);
    expect(await webhook.exited).toBe(0);
    expect(webhook.lines().map((line) => line.msg)).toEqual(expect.arrayContaining(['draining', 'stopped']));
  });
});
