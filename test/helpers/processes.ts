// Child processes for the benchmarks and the reliability runs: their memory from /proc, their
// JSON log lines, and the load generator (test/bench/load.ts) in a process of its own.
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectFile } from './fixtures.ts';

const CLOCK_TICKS_PER_SECOND = 100;

/** CPU time so far, and memory: resident now, its peak, and the anonymous part of it now. */
export function procStatus(pid: number): { cpuMs: number; rssMiB: number; peakRssMiB: number; anonMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const cpuTicks = Number(stat[11]) + Number(stat[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)![1]);
  return { cpuMs: (cpuTicks * 1000) / CLOCK_TICKS_PER_SECOND, rssMiB: kib('VmRSS') / 1024, peakRssMiB: kib('VmHWM') / 1024, anonMiB: kib('RssAnon') / 1024 };
}

/** Collects a child's JSON log lines (stdout and stderr) from the moment it starts. */
export function logLines(child: ChildProcess): () => Record<string, unknown>[] {
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return () =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
}

export async function waitForLine(child: ChildProcess, lines: () => Record<string, unknown>[], matches: (line: Record<string, unknown>) => boolean, what: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  for (let waited = 0; waited < timeoutMs; waited += 20) {
    const line = lines().find(matches);
    if (line) return line;
    if (child.exitCode !== null) break;
    await sleep(20);
  }
  throw new Error(`${what}: ${JSON.stringify(lines().slice(-5))}`);
}

export interface Load {
  url: string;
  ca: string;
  /** A file holding the request body. */
  body: string;
  connections: number;
  durationSeconds: number;
  /** Requests per second, evenly paced; unset for as fast as the server goes. */
  rate?: number;
  /** This many requests at once, each on its own connection, instead of a timed run. */
  burst?: number;
  /** New connection (and TLS handshake) per request. */
  noKeepAlive?: boolean;
  /** The name the server's certificate is checked against, when not the URL's host. */
  servername?: string;
}

export interface LoadResult {
  requestsPerSecond: number;
  total: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  /** What the errors were, with how many of each: "HTTP 500", "ECONNRESET", "timeout". */
  errorCauses: Record<string, number>;
}

/** "HTTP 500 ×3, ECONNRESET ×1", or "" when there were none. */
export const describeCauses = (causes: Record<string, number>): string =>
  Object.entries(causes)
    .filter(([, count]) => count > 0)
    .map(([cause, count]) => `${cause} ×${count}`)
    .join(', ');

/**
 * The webhook as its image runs it (bin/kubevirt-vduse-webhook) against a fake API server, once
 * it serves and its Namespace cache has synced (with `namespaces` objects, when given).
 */
export async function startWebhookEntryPoint(kubeconfig: string, tls: { certPath: string; keyPath: string }, options: { extra?: string[]; namespaces?: number } = {}) {
  const child = spawn(
    projectFile('bin', 'kubevirt-vduse-webhook'),
    ['--tls-cert', tls.certPath, '--tls-key', tls.keyPath, '--port', '0', '--health-port', '0', '--kubeconfig', kubeconfig, ...(options.extra ?? [])],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'production' } },
  );
  const lines = logLines(child);
  try {
    const serving = await waitForLine(child, lines, (line) => line.msg === 'serving', 'the webhook did not start');
    await waitForLine(
      child,
      lines,
      (line) => line.msg === 'cache synced' && line.resource === 'namespaces' && (options.namespaces === undefined || line.objects === options.namespaces),
      'the Namespace cache did not sync',
    );
    return { child, lines, port: serving.port as number, healthPort: serving.healthPort as number };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

export function runLoad(load: Load): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [projectFile('test', 'bench', 'load.ts'), JSON.stringify(load)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(output) as LoadResult) : reject(new Error(`load generator exited ${String(code)}`))));
  });
}

/** A loopback TCP port nothing listens on now: bound, then closed. */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
