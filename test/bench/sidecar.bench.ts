// The sidecar as virt-launcher meets it: start-up to the first Info, OnDefineDomain round trips over
// the unix socket against a bare grpc-js echo of the same payload, and peak RSS. Runs the build
// output (dist/), as the image does.
import { credentials, type Client } from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectFile } from '../helpers/fixtures.ts';
import { kubevirtFile } from '../helpers/kubevirt-files.ts';
import { unaryCall } from '../helpers/hook-client.ts';
import { protoClients } from '../helpers/hook-protos.ts';
import { macFor, masqueradeDefault, vduseInterface, vmiWith } from '../helpers/vmis.ts';
import { procStatus } from '../helpers/processes.ts';
import { formatMicros } from './measure.ts';
import { DEFAULT_BINDING_PLUGIN_NAME, hookSocketName } from '../../api/names.ts';

const CALLS = 1000;
async function startServer(command: string, args: string[], socketPath: string, env: NodeJS.ProcessEnv) {
  const started = performance.now();
  const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const clients = protoClients();
  while (!stderr.includes('"msg":"serving"')) {
    if (child.exitCode !== null) throw new Error(stderr);
    await sleep(1);
  }
  const info = new clients.info(`unix:${socketPath}`, credentials.createInsecure());
  await unaryCall(info, 'Info', {});
  const firstInfoMs = performance.now() - started;
  const atFirstInfo = procStatus(child.pid!);
  info.close();
  const callbacks = new clients.v1alpha3(`unix:${socketPath}`, credentials.createInsecure());
  return { child, callbacks, firstInfoMs, atFirstInfo };
}

/**
 * Call times in µs, sorted, and the server's peak anonymous memory, sampled every 10 calls: the
 * kernel keeps a peak for RSS as a whole, but only anonymous memory cannot be reclaimed under a
 * container's limit; the rest of RSS is clean pages of the node binary.
 */
async function roundTrips(client: Client, request: object, pid: number): Promise<{ times: number[]; peakAnonMiB: number }> {
  for (let i = 0; i < 100; i++) await unaryCall(client, 'OnDefineDomain', request);
  const times: number[] = [];
  let peakAnonMiB = 0;
  for (let i = 0; i < CALLS; i++) {
    const started = process.hrtime.bigint();
    await unaryCall(client, 'OnDefineDomain', request);
    times.push(Number(process.hrtime.bigint() - started) / 1000);
    if (i % 10 === 0) peakAnonMiB = Math.max(peakAnonMiB, procStatus(pid).anonMiB);
  }
  return { times: times.sort((a, b) => a - b), peakAnonMiB };
}

const at = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;

interface Measured {
  label: string;
  p50: number;
  p99: number;
  firstInfoMs: number;
  firstInfoCpuMs: number;
  peakRssMiB: number;
  peakAnonMiB: number;
}

async function measure(label: string, command: string, args: string[], socketPath: string, request: object, env: NodeJS.ProcessEnv): Promise<Measured> {
  const server = await startServer(command, args, socketPath, env);
  try {
    const { times, peakAnonMiB } = await roundTrips(server.callbacks, request, server.child.pid!);
    return {
      label,
      p50: at(times, 50),
      p99: at(times, 99),
      firstInfoMs: server.firstInfoMs,
      firstInfoCpuMs: server.atFirstInfo.cpuMs,
      peakRssMiB: procStatus(server.child.pid!).peakRssMiB,
      peakAnonMiB,
    };
  } finally {
    server.callbacks.close();
    server.child.kill('SIGTERM');
  }
}

export async function run(): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), 'vduse-bench-'));
  const networkInfo = join(dir, 'network-info');
  writeFileSync(networkInfo, JSON.stringify({ interfaces: [{ network: 'net1', deviceInfo: { type: 'vdpa', version: '1.1.0', vdpa: { driver: 'vhost', path: '/dev/vhost-vdpa-0' } } }] }));
  const request = {
    domainXML: readFileSync(kubevirtFile('domain_x86_64.xml')),
    vmi: Buffer.from(JSON.stringify(vmiWith([masqueradeDefault, vduseInterface('net1', { macAddress: macFor(0) })]))),
  };
  const env = { ...process.env, CONTAINER_NAME: 'hook-sidecar-0', NETWORK_BINDING_PLUGIN_NAME: '' };
  const sidecarArgs = (name: string) => ['--socket-dir', join(dir, name), '--network-info', networkInfo];
  const socket = (name: string) => join(dir, name, hookSocketName(DEFAULT_BINDING_PLUGIN_NAME));

  // As the image runs it: the entry point with its V8 flags. Then the same bundle on Node's
  // defaults, to show what the flags buy, and the bare echo that sets the floor.
  const image = await measure('sidecar (image entry point)', projectFile('bin', 'kubevirt-vduse-sidecar'), sidecarArgs('image'), socket('image'), request, env);
  const defaults = await measure('sidecar (Node defaults)', process.execPath, [projectFile('dist', 'kubevirt-vduse.js'), 'sidecar', ...sidecarArgs('defaults')], socket('defaults'), request, env);
  const echo = await measure('bare grpc-js echo', process.execPath, [projectFile('test', 'bench', 'echo-server.ts'), join(dir, 'echo.sock')], join(dir, 'echo.sock'), request, env);

  console.log(`sidecar over its unix socket (dist/), ${CALLS} sequential OnDefineDomain calls after 100 warm-up calls`);
  console.log('  | server | p50 | p99 | first Info wall | first Info CPU | peak RSS | peak anonymous |');
  for (const m of [image, defaults, echo]) {
    console.log(
      `  | ${m.label} | ${formatMicros(m.p50)} | ${formatMicros(m.p99)} | ${m.firstInfoMs.toFixed(0)} ms | ${m.firstInfoCpuMs.toFixed(0)} ms | ${m.peakRssMiB.toFixed(1)} MiB | ${m.peakAnonMiB.toFixed(1)} MiB |`,
    );
  }
  const ratio = image.p99 / echo.p99;
  const checks = [
    [`OnDefineDomain p99 ${formatMicros(image.p99)}`, image.p99 <= 5000, '<= 5 ms'],
    [`OnDefineDomain p99 / echo p99 = ${ratio.toFixed(2)}x`, ratio <= 3, '<= 3x'],
    [`start-up to first Info: wall ${image.firstInfoMs.toFixed(0)} ms`, image.firstInfoMs <= 300, '<= 300 ms'],
    [`start-up to first Info: CPU ${image.firstInfoCpuMs.toFixed(0)} ms`, image.firstInfoCpuMs <= 200, '<= 200 ms'],
    [`peak RSS ${image.peakRssMiB.toFixed(1)} MiB`, image.peakRssMiB <= 61.0, '<= 64M (61.0 MiB)'],
    [`peak anonymous memory ${image.peakAnonMiB.toFixed(1)} MiB`, image.peakAnonMiB <= 48, '<= 48 MiB'],
  ] as const;
  for (const [text, met, target] of checks) console.log(`  ${text}  target ${target}: ${met ? 'met' : 'MISSED'}`);
  return checks.every(([, met]) => met);
}
