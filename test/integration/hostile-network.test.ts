// Hostile and unlucky peers on the real transports: the sidecar's gRPC socket (oversized
// messages, a client gone mid-call, 100 calls at once, SIGKILL and restart, racing calls on the
// links) and the webhook's HTTPS port (slow headers, slow bodies).
import { status, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, readlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { podInterfaceName } from '../../api/pod-interface.ts';
import { createLoopbackPki } from '../../cli/loopback-pki.ts';
import { DEFAULT_CONFIG } from '../../webhook/config.ts';
import { createWebhookMetrics } from '../../webhook/metrics.ts';
import { startWebhookServer } from '../../webhook/server.ts';
import { StaticClusterView } from '../../webhook/static-cluster.ts';
import { readKubevirtFile } from '../helpers/kubevirt-files.ts';
import { startSidecar, type SidecarProcess } from '../helpers/hook-client.ts';
import { macFor, masqueradeDefault, vduseInterface, vmiWith } from '../helpers/vmis.ts';
import { capturedLogger } from '../helpers/webhook-client.ts';

const domainXML = Buffer.from(readKubevirtFile('domain_x86_64.xml'));
const vmiFor = (networks: string[]) =>
  Buffer.from(JSON.stringify(vmiWith([masqueradeDefault, ...networks.map((name, index) => vduseInterface(name, { macAddress: macFor(index), pciAddress: `0000:0${index + 1}:00.0` }))])));
const networkInfo = (devices: Record<string, string>) =>
  JSON.stringify({ interfaces: Object.entries(devices).map(([network, path]) => ({ network, deviceInfo: { type: 'vdpa', version: '1.1.0', vdpa: { driver: 'vhost', path } } })) });

const running: SidecarProcess[] = [];
afterAll(() => Promise.all(running.map((sidecar) => sidecar.stop())));

async function sidecarWith(devices: Record<string, string>, socketDir?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'vduse-hostile-'));
  const infoPath = join(dir, 'network-info');
  writeFileSync(infoPath, networkInfo(devices));
  const sidecar = await startSidecar(socketDir ?? join(dir, 'hooks'), ['--network-info', infoPath, '--network-info-timeout', '2']);
  running.push(sidecar);
  return { sidecar, socketDir: socketDir ?? join(dir, 'hooks'), infoPath };
}

describe('the sidecar under hostile gRPC', () => {
  it('refuses a message over 4 MiB with RESOURCE_EXHAUSTED and keeps serving', async () => {
    const { sidecar } = await sidecarWith({ net1: '/dev/vhost-vdpa-1' });
    const huge = Buffer.alloc(5 * 1024 * 1024, 0x20);
    const error = (await sidecar.call('v1alpha3', 'OnDefineDomain', { domainXML: huge, vmi: vmiFor(['net1']) }).catch((e: unknown) => e)) as ServiceError;
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
    const answer = await sidecar.call('v1alpha3', 'OnDefineDomain', { domainXML, vmi: vmiFor(['net1']) });
    expect(answer.domainXML!.toString()).toContain('<interface type="vdpa">');
  });

  it('survives a client that goes away mid-call', async () => {
    const { sidecar } = await sidecarWith({ net1: '/dev/vhost-vdpa-1' });
    // The deadline passes while the call is served: the client cancels.
    const cancelled = (await sidecar.call('v1alpha3', 'OnDefineDomain', { domainXML, vmi: vmiFor(['net1', 'net9']) }, 50).catch((e: unknown) => e)) as ServiceError;
    expect(cancelled.code).toBe(status.DEADLINE_EXCEEDED);
    await sleep(2500); // the abandoned call finishes (net9 never appears) while nobody listens
    expect(sidecar.process.exitCode).toBeNull();
    expect((await sidecar.call('info', 'Info', {}, 1000)).name).toBe('vduse');
  });

  it('answers 100 concurrent calls, all correctly, one at a time', async () => {
    const { sidecar } = await sidecarWith({ net1: '/dev/vhost-vdpa-1' });
    const answers = await Promise.all(Array.from({ length: 100 }, () => sidecar.call('v1alpha3', 'OnDefineDomain', { domainXML, vmi: vmiFor(['net1']) })));
    const distinct = new Set(answers.map((answer) => answer.domainXML!.toString()));
    expect(distinct.size).toBe(1);
    expect([...distinct][0]).toContain('<interface type="vdpa">');
  });
});

describe('sidecar faults', () => {
  it('after SIGKILL, a new sidecar on the same socket dir takes over the stale socket and repoints the links', async () => {
    const first = await sidecarWith({ net1: '/dev/vhost-vdpa-1' });
    await first.sidecar.call('v1alpha3', 'OnDefineDomain', { domainXML, vmi: vmiFor(['net1']) });
    const link = join(first.socketDir, 'vduse', podInterfaceName('net1'));
    expect(readlinkSync(link)).toBe('/dev/vhost-vdpa-1');
    first.sidecar.process.kill('SIGKILL');
    await first.sidecar.exited;

    // The device plugin gave the restarted pod another device.
    const second = await sidecarWith({ net1: '/dev/vhost-vdpa-4' }, first.socketDir);
    await second.sidecar.call('v1alpha3', 'OnDefineDomain', { domainXML, vmi: vmiFor(['net1']) });
    expect(readlinkSync(link)).toBe('/dev/vhost-vdpa-4');
  });

  it('two OnDefineDomain calls racing on the links leave each link pointing at its device', async () => {
    const { sidecar, socketDir, infoPath } = await sidecarWith({ net1: '/dev/vhost-vdpa-1', net2: '/dev/vhost-vdpa-2' });
    const calls = [
      sidecar.call('v1alpha3', 'OnDefineDomain', { domainXML, vmi: vmiFor(['net1', 'net2']) }),
      sidecar.call('v1alpha2', 'OnDefineDomain', { domainXML, vmi: vmiFor(['net1', 'net2']) }),
    ];
    // network-info changes under them (a device replaced): the last call served wins, whole.
    writeFileSync(infoPath, networkInfo({ net1: '/dev/vhost-vdpa-7', net2: '/dev/vhost-vdpa-8' }));
    await Promise.all(calls);
    await sidecar.call('v1alpha3', 'OnDefineDomain', { domainXML, vmi: vmiFor(['net1', 'net2']) });
    expect(readlinkSync(join(socketDir, 'vduse', podInterfaceName('net1')))).toBe('/dev/vhost-vdpa-7');
    expect(readlinkSync(join(socketDir, 'vduse', podInterfaceName('net2')))).toBe('/dev/vhost-vdpa-8');
  });
});

describe('the webhook under slow clients', () => {
  it('sets header and request timeouts, and closes a slowloris connection', async () => {
    const pki = createLoopbackPki();
    const cluster = new StaticClusterView(new Map(), new Map());
    const server = await startWebhookServer({
      port: 0,
      healthPort: 0,
      host: '127.0.0.1',
      tls: pki.issue('slow'),
      cluster,
      config: () => DEFAULT_CONFIG,
      log: capturedLogger().log,
      metrics: createWebhookMetrics(),
      timeouts: { headersMs: 300, requestMs: 600 },
    });
    try {
      const slow = (body: boolean) =>
        new Promise<{ closedAfterMs: number; response: string }>((resolve, reject) => {
          const started = Date.now();
          let response = '';
          const socket = connect({ host: '127.0.0.1', port: server.port, ca: pki.ca, servername: 'localhost' }, () => {
            socket.write('POST /mutate HTTP/1.1\r\nHost: x\r\n');
            if (body) socket.write('Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"apiVersion":');
            // Then trickle a byte now and then, never finishing.
            const trickle = setInterval(() => socket.write(body ? ' ' : 'X-Slow: 1\r\n'), 100);
            socket.on('close', () => {
              clearInterval(trickle);
              resolve({ closedAfterMs: Date.now() - started, response });
            });
          });
          socket.on('data', (chunk: Buffer) => (response += chunk.toString()));
          socket.on('error', reject);
        });
      const headers = await slow(false);
      expect(headers.closedAfterMs).toBeLessThan(2000);
      expect(headers.response).toMatch(/^HTTP\/1\.1 408|^$/);
      const body = await slow(true);
      expect(body.closedAfterMs).toBeLessThan(2000);
    } finally {
      await server.close();
    }
  });
});
