// The load generator, in a process of its own so it does not share a CPU with the server measured.
// Throughput: autocannon over keep-alive HTTPS, as fast as the server answers. A fixed rate:
// requests paced evenly over keep-alive connections, because autocannon's rate limit sends each
// second's quota in one burst at the top of the second, which measures its own queue.
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';

interface Load {
  url: string;
  ca: string;
  body: string;
  connections: number;
  durationSeconds: number;
  /** Requests per second, evenly paced; unset for as fast as the server goes. */
  rate?: number;
}

interface LoadResult {
  requestsPerSecond: number;
  total: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

async function asFastAsItGoes(load: Load): Promise<LoadResult> {
  const result = await autocannon({
    url: load.url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: readFileSync(load.body),
    connections: load.connections,
    duration: load.durationSeconds,
    tlsOptions: { ca: readFileSync(load.ca) },
  });
  return { requestsPerSecond: result.requests.average, total: result.requests.total, p50Ms: result.latency.p50, p99Ms: result.latency.p99, errors: result.errors + result.timeouts + result.non2xx };
}

async function paced(load: Load, rate: number): Promise<LoadResult> {
  const body = readFileSync(load.body);
  const ca = readFileSync(load.ca);
  const agent = new Agent({ keepAlive: true, maxSockets: load.connections });
  const url = new URL(load.url);
  const latencies: number[] = [];
  let errors = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const started = performance.now();
      const outgoing = request(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', ca, agent, headers: { 'content-type': 'application/json', 'content-length': body.length } },
        (response) => {
          response.resume();
          response.on('end', () => {
            if (response.statusCode === 200) latencies.push(performance.now() - started);
            else errors++;
            resolve();
          });
        },
      );
      outgoing.on('error', () => {
        errors++;
        resolve();
      });
      outgoing.end(body);
    });
  const total = rate * load.durationSeconds;
  const began = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let sent = 0; sent < total; sent++) {
    const due = began + (sent * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    inFlight.push(one());
  }
  await Promise.all(inFlight);
  const elapsed = (performance.now() - began) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (p: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))]! * 100) / 100;
  return { requestsPerSecond: latencies.length / elapsed, total: latencies.length, p50Ms: at(50), p99Ms: at(99), errors };
}

const load = JSON.parse(process.argv[2]!) as Load;
console.log(JSON.stringify(load.rate ? await paced(load, load.rate) : await asFastAsItGoes(load)));
