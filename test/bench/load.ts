// The load generator, in a process of its own so it does not share a CPU with the server measured.
// Throughput: autocannon over keep-alive HTTPS, as fast as the server answers. A fixed rate:
// requests paced evenly over keep-alive connections, because autocannon's rate limit sends each
// second's quota in one burst at the top of the second, which measures its own queue. A burst:
// that many requests at once, each on its own connection.
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Load, LoadResult } from '../helpers/processes.ts';

async function asFastAsItGoes(load: Load): Promise<LoadResult> {
  const result = await autocannon({
    url: load.url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: readFileSync(load.body),
    connections: load.connections,
    duration: load.durationSeconds,
    tlsOptions: { ca: readFileSync(load.ca), ...(load.servername ? { servername: load.servername } : {}) },
  });
  return {
    requestsPerSecond: result.requests.average,
    total: result.requests.total,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    errors: result.errors + result.timeouts + result.non2xx,
    errorCauses: {
      'connection error': result.errors,
      timeout: result.timeouts,
      ...Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).filter(([code]) => code !== '200').map(([code, stats]) => [`HTTP ${code}`, stats.count ?? 0])),
    },
  };
}

/** One request per entry of `schedule` (ms after the start), each timed from when it is sent. */
async function scheduled(load: Load, schedule: number[]): Promise<LoadResult> {
  const body = readFileSync(load.body);
  const ca = readFileSync(load.ca);
  const agent = new Agent({ keepAlive: !load.noKeepAlive, maxSockets: load.burst ?? load.connections });
  const url = new URL(load.url);
  const latencies: number[] = [];
  let errors = 0;
  const errorCauses: Record<string, number> = {};
  const failed = (cause: string) => {
    errors++;
    errorCauses[cause] = (errorCauses[cause] ?? 0) + 1;
  };
  const one = () =>
    new Promise<void>((resolve) => {
      const started = performance.now();
      const outgoing = request(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', ca, agent, ...(load.servername ? { servername: load.servername } : {}), headers: { 'content-type': 'application/json', 'content-length': body.length } },
        (response) => {
          response.resume();
          response.on('end', () => {
            if (response.statusCode === 200) latencies.push(performance.now() - started);
            else failed(`HTTP ${String(response.statusCode)}`);
            resolve();
          });
        },
      );
      outgoing.on('error', (error: NodeJS.ErrnoException) => {
        failed(error.code ?? error.message);
        resolve();
      });
      outgoing.end(body);
    });
  const began = performance.now();
  const inFlight: Promise<void>[] = [];
  for (const due of schedule) {
    const wait = began + due - performance.now();
    if (wait > 1) await sleep(wait);
    inFlight.push(one());
  }
  await Promise.all(inFlight);
  const elapsed = (performance.now() - began) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const round = (ms: number) => Math.round(ms * 100) / 100;
  const at = (p: number) => round(latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] ?? NaN);
  return { requestsPerSecond: latencies.length / elapsed, total: latencies.length, p50Ms: at(50), p99Ms: at(99), maxMs: round(latencies.at(-1) ?? NaN), errors, errorCauses };
}

const load = JSON.parse(process.argv[2]!) as Load;
const result = load.burst
  ? await scheduled(load, new Array<number>(load.burst).fill(0))
  : load.rate
    ? await scheduled(load, Array.from({ length: load.rate * load.durationSeconds }, (_, sent) => (sent * 1000) / load.rate!))
    : await asFastAsItGoes(load);
console.log(JSON.stringify(result));
