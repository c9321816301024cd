// The webhook as the API server meets it: the image's entry point (bin/, dist/) in its own process, serving
// keep-alive HTTPS, its informers holding 10,000 Namespaces from a local list/watch server; load
// from autocannon in a third process; a bare HTTPS JSON echo on the same Node as the baseline.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLoopbackPki } from '../../cli/loopback-pki.ts';
import { FakeApiServer } from '../helpers/fake-apiserver.ts';
import { projectFile } from '../helpers/fixtures.ts';
import { logLines, procStatus, runLoad, startWebhookEntryPoint, waitForLine } from '../helpers/processes.ts';
import { NAMESPACE, VDUSE_RESOURCE, vmWith } from '../helpers/vms.ts';
import { reviewOf } from '../helpers/webhook-client.ts';

const NAMESPACES = 10_000;
const DURATION_SECONDS = 10;
const CONNECTIONS = 16;
const FIXED_RATE = 500;

/** A realistic VM: KubeVirt's example with 4 VDUSE networks, MACs and a cloud-config, about 10 KB. */
export function realisticReview(): string {
  const networks = Object.fromEntries(['dataplane-0', 'dataplane-1', 'dataplane-2', 'dataplane-3'].map((name) => [name, 'ovs-vduse']));
  const vm = vmWith({
    multus: networks,
    interfaceFields: Object.fromEntries(Object.keys(networks).map((name, index) => [name, { macAddress: `02:00:00:00:01:1${index}`, pciAddress: `0000:0${index + 1}:00.0` }])),
    memory: { guest: '8Gi' },
    templateAnnotations: { 'vduse.kubevirt.io/coalesce': 'rx-usecs=64,adaptive-rx' },
  });
  const volume = vm.spec.template.spec!.volumes!.find((candidate) => candidate.cloudInitNoCloud)!;
  volume.cloudInitNoCloud!.userData = `#cloud-config\nusers:\n${Array.from({ length: 70 }, (_, i) => `  - name: operator${i}\n    ssh_authorized_keys: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${String(i).padStart(40, 'x')}]\n`).join('')}`;
  return JSON.stringify(reviewOf(vm));
}

const loadOf = (port: number, ca: string, body: string, rate?: number) =>
  runLoad({ url: `https://127.0.0.1:${port}/mutate`, ca, body, connections: CONNECTIONS, durationSeconds: DURATION_SECONDS, ...(rate ? { rate } : {}) });

export async function run(): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), 'vduse-webhook-bench-'));
  const pki = createLoopbackPki();
  const leaf = pki.issue('bench');
  const caPath = join(dir, 'ca.crt');
  writeFileSync(caPath, pki.ca);
  const bodyPath = join(dir, 'review.json');
  const body = realisticReview();
  writeFileSync(bodyPath, body);

  const api = await new FakeApiServer().start();
  for (let i = 0; i < NAMESPACES; i++) api.setNamespace(`tenant-${i}`, i % 2 ? { 'vduse.kubevirt.io/policy': 'enabled' } : {}, { 'example.com/owner': `team-${i % 97}` });
  api.setNamespace(NAMESPACE, { 'vduse.kubevirt.io/policy': 'enabled' });
  api.setNad(NAMESPACE, 'ovs-vduse', VDUSE_RESOURCE);

  // As the image runs it: the entry point with its V8 flags.
  const { child: webhook, port: webhookPort } = await startWebhookEntryPoint(api.kubeconfigFile(), leaf, { namespaces: NAMESPACES + 1 });
  const echo = spawn(process.execPath, [projectFile('test', 'bench', 'https-echo.ts'), leaf.certPath, leaf.keyPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const echoLog = logLines(echo);
  try {
    const echoPort = (await waitForLine(echo, echoLog, (line) => line.msg === 'serving', 'the echo did not start')).port as number;
    const idle = procStatus(webhook.pid!);

    const webhookMax = await loadOf(webhookPort, caPath, bodyPath);
    const echoMax = await loadOf(echoPort, caPath, bodyPath);
    const webhookFixed = await loadOf(webhookPort, caPath, bodyPath, FIXED_RATE);
    const echoFixed = await loadOf(echoPort, caPath, bodyPath, FIXED_RATE);
    const after = procStatus(webhook.pid!);

    const ratio = webhookMax.requestsPerSecond / echoMax.requestsPerSecond;
    console.log(`webhook over keep-alive HTTPS (bin/kubevirt-vduse-webhook), ${(body.length / 1024).toFixed(1)} KB review of a VM with 4 VDUSE interfaces, ${CONNECTIONS} connections, ${DURATION_SECONDS} s per run, ${NAMESPACES} Namespaces cached`);
    console.log('  | run | requests/s | p50 | p99 | errors |');
    for (const [label, result] of [['webhook, as fast as it goes (autocannon)', webhookMax], ['bare HTTPS JSON echo, as fast as it goes', echoMax], [`webhook at ${FIXED_RATE}/s, paced`, webhookFixed], [`echo at ${FIXED_RATE}/s, paced`, echoFixed]] as const) {
      console.log(`  | ${label} | ${result.requestsPerSecond.toFixed(0)} | ${result.p50Ms} ms | ${result.p99Ms} ms | ${result.errors} |`);
    }
    console.log(`  webhook RSS: ${idle.rssMiB.toFixed(1)} MiB with the caches synced, peak ${after.peakRssMiB.toFixed(1)} MiB after the runs`);
    const checks = [
      [`throughput ${webhookMax.requestsPerSecond.toFixed(0)}/s`, webhookMax.requestsPerSecond >= 2000, '>= 2000/s'],
      [`p99 at ${FIXED_RATE}/s: ${webhookFixed.p99Ms} ms`, webhookFixed.p99Ms <= 10, '<= 10 ms'],
      [`throughput / echo = ${ratio.toFixed(2)}x`, ratio >= 0.5, '>= 0.5x'],
      [`peak RSS ${after.peakRssMiB.toFixed(1)} MiB with ${NAMESPACES} Namespaces cached`, after.peakRssMiB <= 120, '<= 120 MiB'],
      [`errors: ${webhookMax.errors + webhookFixed.errors}`, webhookMax.errors + webhookFixed.errors === 0, '0'],
    ] as const;
    for (const [text, met, target] of checks) console.log(`  ${text}  target ${target}: ${met ? 'met' : 'MISSED'}`);
    return checks.every(([, met]) => met);
  } finally {
    webhook.kill('SIGTERM');
    echo.kill('SIGTERM');
    await api.stop();
  }
}
