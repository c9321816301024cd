// The sidecar as virt-launcher meets it: start-up to the first Info, OnDefineDomain round trips over
// the unix socket against a bare grpc-js echo of the same payload, and peak RSS. Runs the build
// output (dist/), as the image does.
import { credentials, type Client } from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadHookPackage } from '../../sidecar/hook-protocol.ts';
import { projectFile, sharedFixture } from '../helpers/fixtures.ts';
import { unaryCall } from '../helpers/hook-client.ts';
import { macFor, masqueradeDefault, vduseInterface, vmiWith } from '../helpers/vmis.ts';
import { formatMicros } from './measure.ts';

const CALLS = 1000;
const CLOCK_TICKS_PER_SECOND = 100;

function procStatus(pid: number): { cpuMs: number; peakRssMiB: number; rssMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const cpuTicks = Number(stat[11]) + Number(stat[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)![1]);
  return { cpuMs: (cpuTicks * 1000) / CLOCK_TICKS_PER_SECOND, peakRssMiB: kib('VmHWM') / 1024, rssMiB: kib('VmRSS') / 1024 };
}

async function startServer(args: string[], socketPath: string, env: NodeJS.ProcessEnv) {
  const started = performance.now();
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const hooks = loadHookPackage();
  while (!stderr.includes('"msg":"serving"')) {
    if (child.exitCode !== null) throw new Error(stderr);
    await sleep(1);
  }
  const info = new hooks.info!.Info!(`unix:${socketPath}`, credentials.createInsecure()) as Client;
  await unaryCall(info, 'Info', {});
  const firstInfoMs = performance.now() - started;
  const atFirstInfo = procStatus(child.pid!);
  info.close();
  const callbacks = new hooks.v1alpha3!.Callbacks!(`unix:${socketPath}`, credentials.createInsecure()) as Client;
  return { child, callbacks, firstInfoMs, atFirstInfo };
}

async function roundTrips(client: Client, request: object): Promise<number[]> {
  for (let i = 0; i < 100; i++) await unaryCall(client, 'OnDefineDomain', request);
  const samples: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const started = process.hrtime.bigint();
    await unaryCall(client, 'OnDefineDomain', request);
    samples.push(Number(process.hrtime.bigint() - started) / 1000);
  }
  return samples.sort((a, b) => a - b);
}

const at = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;

export async function run(): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), 'vduse-bench-'));
  const networkInfo = join(dir, 'network-info');
  writeFileSync(networkInfo, JSON.stringify({ interfaces: [{ network: 'net1', deviceInfo: { type: 'vdpa', version: '1.1.0', vdpa: { driver: 'vhost', path: '/dev/vhost-vdpa-0' } } }] }));
  const request = {
    domainXML: readFileSync(sharedFixture('domain_x86_64.xml')),
    vmi: Buffer.from(JSON.stringify(vmiWith([masqueradeDefault, vduseInterface('net1', { macAddress: macFor(0) })]))),
  };
  const env = { ...process.env, CONTAINER_NAME: 'hook-sidecar-0', NETWORK_BINDING_PLUGIN_NAME: '' };

  const sidecarDir = join(dir, 'sidecar');
  const sidecar = await startServer([...(process.env.SIDECAR_NODE_FLAGS ?? '').split(' ').filter(Boolean), projectFile('dist', 'cli', 'main.js'), 'sidecar', '--socket-dir', sidecarDir, '--network-info', networkInfo], join(sidecarDir, 'vduse.sock'), env);
  const echoSocket = join(dir, 'echo.sock');
  const echo = await startServer([projectFile('test', 'bench', 'echo-server.ts'), echoSocket], echoSocket, env);

  const sidecarTimes = await roundTrips(sidecar.callbacks, request);
  const echoTimes = await roundTrips(echo.callbacks, request);
  const after = procStatus(sidecar.child.pid!);
  const echoAfter = procStatus(echo.child.pid!);
  for (const server of [sidecar, echo]) {
    server.callbacks.close();
    server.child.kill('SIGTERM');
  }

  const p99 = at(sidecarTimes, 99);
  const ratio = p99 / at(echoTimes, 99);
  const checks = [
    [`OnDefineDomain p99 ${formatMicros(p99)} (p50 ${formatMicros(at(sidecarTimes, 50))}); echo p99 ${formatMicros(at(echoTimes, 99))} (p50 ${formatMicros(at(echoTimes, 50))})`, p99 <= 5000, '<= 5 ms'],
    [`OnDefineDomain p99 / echo p99 = ${ratio.toFixed(2)}x`, ratio <= 3, '<= 3x'],
    [`start-up to first Info: wall ${sidecar.firstInfoMs.toFixed(0)} ms`, sidecar.firstInfoMs <= 300, '<= 300 ms'],
    [`start-up to first Info: CPU ${sidecar.atFirstInfo.cpuMs.toFixed(0)} ms`, sidecar.atFirstInfo.cpuMs <= 200, '<= 200 ms'],
    [`peak RSS after ${CALLS + 100} calls: ${after.peakRssMiB.toFixed(1)} MiB (echo baseline ${echoAfter.peakRssMiB.toFixed(1)} MiB)`, after.peakRssMiB <= 64, '<= 64 MiB'],
  ] as const;
  console.log(`sidecar over its unix socket (dist/), ${CALLS} sequential OnDefineDomain calls, against a bare grpc-js echo`);
  for (const [text, met, target] of checks) console.log(`  ${text}  target ${target}: ${met ? 'met' : 'MISSED'}`);
  return checks.every(([, met]) => met);
}
