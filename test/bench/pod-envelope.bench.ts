// The pod envelope: the smallest memory limit, in steps of 8M, under which the sidecar passes
// virt-launcher's whole flow (the replay) three cold starts in a row, in a fresh cgroup with
// KubeVirt's cpu 200m quota. Its floor, in the same run: a bare node:http2 gRPC echo on the same
// node binary. Needs root (cgroups, dropping the page cache); fails with the reason otherwise.
import { SIDECAR_MEMORY_LIMIT_BYTES, SIDECAR_MEMORY_MINIMUM_BYTES } from '../../api/sidecar-resources.ts';
import { MEGA, MIB, podCgroupProblem, runInEnvelope, type EnvelopeProcess, type EnvelopeRun, type ServeTimes, timeToServe } from '../helpers/pod-envelope.ts';
import { readFileSync } from 'node:fs';
import { projectFile } from '../helpers/fixtures.ts';
import { cutAtWord } from './measure.ts';

const STEP = 8 * MEGA;
const TOP = 128 * MEGA;
const BOTTOM = 48 * MEGA;
const STARTS = 3;

const imageFlags = /NODE_FLAGS="\$\{KUBEVIRT_VDUSE_NODE_FLAGS:-([^}]*)\}"/.exec(readFileSync(projectFile('bin', 'kubevirt-vduse-sidecar'), 'utf8'))![1]!;
const megas = (bytes: number) => `${Math.round(bytes / MEGA)}M`;
const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;

interface Level {
  limit: number;
  runs: EnvelopeRun[];
}

/** Steps down from TOP while three cold starts in a row pass; the minimum is the last level that did. */
async function minimumLimit(label: string, what: EnvelopeProcess): Promise<{ minimum: number | undefined; levels: Level[] }> {
  const levels: Level[] = [];
  let minimum: number | undefined;
  for (let limit = TOP; limit >= BOTTOM; limit -= STEP) {
    const runs: EnvelopeRun[] = [];
    for (let start = 0; start < STARTS; start++) {
      const run = await runInEnvelope(limit, what);
      runs.push(run);
      if (!run.passed) break;
    }
    levels.push({ limit, runs });
    const last = runs.at(-1)!;
    console.log(
      `  ${label.padEnd(34)} ${megas(limit).padStart(5)}: ${runs.map((run) => (run.passed ? 'pass' : 'FAIL')).join(' ')}` +
        `  peak ${mib(last.stats.peakBytes)}, major faults ${last.stats.majorFaults}, file refaults ${last.stats.fileRefaults}` +
        (last.failure ? `  (${cutAtWord(last.failure, 90)})` : ''),
    );
    if (runs.some((run) => !run.passed)) break;
    minimum = limit;
  }
  return { minimum, levels };
}

const SERVE_STARTS = 5;
const MEMORY_FLAGS = '--max-semi-space-size=1 --max-old-space-size=32';

/**
 * Start-up is VM start-up: virt-launcher defines the domain only once every sidecar answered Info.
 * Cold starts at the shipped limit and cpu 200m, medians: process start to socket, to the first
 * Info answer, and the CPU spent by then. The sidecar as the image runs it, and with only the
 * memory flags: any of --jitless, --optimize-for-size or --single-threaded makes V8 reject Node's
 * own code cache for its built-in modules (they are compiled for the default flags), which costs
 * start-up CPU for memory. (A V8 code cache of the bundle, NODE_COMPILE_CACHE, was tried: once the
 * sidecar lost grpc-js and pino it gained nothing, 1005 ms against 987 ms to the first Info.)
 */
export async function serveTimes(): Promise<void> {
  console.log(`  time to serve at the shipped limit ${megas(SIDECAR_MEMORY_LIMIT_BYTES)}, ${SERVE_STARTS} cold starts each, medians:`);
  const candidates: [string, EnvelopeProcess][] = [
    ['floor: node:http2 echo (image flags)', { kind: 'floor', floorFlags: imageFlags.split(' ') }],
    ['floor: node:http2 echo (Node defaults)', { kind: 'floor', floorFlags: [] }],
    ['sidecar, image entry point', { kind: 'sidecar' }],
    [`sidecar, memory flags only (${MEMORY_FLAGS})`, { kind: 'sidecar', sidecarFlags: MEMORY_FLAGS }],
  ];
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const results = new Map<string, ServeTimes>();
  for (const [label, what] of candidates) {
    const runs: ServeTimes[] = [];
    for (let start = 0; start < SERVE_STARTS; start++) runs.push(await timeToServe(SIDECAR_MEMORY_LIMIT_BYTES, what));
    const times = { socketMs: median(runs.map((r) => r.socketMs)), infoMs: median(runs.map((r) => r.infoMs)), infoCpuMs: median(runs.map((r) => r.infoCpuMs)) };
    results.set(label, times);
    console.log(`  ${label.padEnd(62)} socket ${times.socketMs.toFixed(0).padStart(5)} ms, first Info ${times.infoMs.toFixed(0).padStart(5)} ms, CPU ${times.infoCpuMs.toFixed(0).padStart(4)} ms`);
  }
  const ours = results.get('sidecar, image entry point')!;
  const floor = results.get('floor: node:http2 echo (image flags)')!;
  console.log(`  sidecar / floor (image flags): socket ${(ours.socketMs / floor.socketMs).toFixed(2)}x, first Info ${(ours.infoMs / floor.infoMs).toFixed(2)}x, CPU ${(ours.infoCpuMs / floor.infoCpuMs).toFixed(2)}x`);
}

export async function run(): Promise<boolean> {
  console.log(`pod envelope: ${STARTS} cold starts per level, cpu 200m (20 ms per 100 ms), limits from ${megas(TOP)} down in ${megas(STEP)} steps`);
  const problem = podCgroupProblem();
  if (problem) {
    console.log(`  cannot run: ${problem}`);
    return false;
  }
  const candidates: [string, EnvelopeProcess][] = [
    [`floor: node:http2 echo (${imageFlags})`, { kind: 'floor', floorFlags: imageFlags.split(' ') }],
    ['floor: node:http2 echo (Node defaults)', { kind: 'floor', floorFlags: [] }],
    [`sidecar, image entry point`, { kind: 'sidecar' }],
    ['sidecar, previous flags (JIT on)', { kind: 'sidecar', sidecarFlags: '--optimize-for-size --max-semi-space-size=2 --max-old-space-size=40' }],
  ];
  await serveTimes();
  console.log('');
  const results = new Map<string, number | undefined>();
  for (const [label, what] of candidates) results.set(label, (await minimumLimit(label, what)).minimum);
  const floor = Math.min(...[...results].filter(([label]) => label.startsWith('floor')).map(([, minimum]) => minimum ?? Infinity));
  const sidecar = results.get('sidecar, image entry point');
  console.log('');
  for (const [label, minimum] of results) console.log(`  minimum ${label.padEnd(44)} ${minimum ? megas(minimum) : `none down to ${megas(BOTTOM)} passed`}`);
  const withinEightOfFloor = sidecar !== undefined && Number.isFinite(floor) && sidecar - floor <= STEP;
  const shippedCoversIt = sidecar !== undefined && SIDECAR_MEMORY_LIMIT_BYTES >= 1.5 * sidecar;
  const measuredAsRecorded = sidecar !== undefined && sidecar <= SIDECAR_MEMORY_MINIMUM_BYTES;
  console.log(`  sidecar minimum vs floor: ${sidecar && Number.isFinite(floor) ? `+${megas(sidecar - floor)}` : 'n/a'}  [${withinEightOfFloor ? 'met' : 'MISSED'}: within 8M]`);
  console.log(`  shipped limit ${megas(SIDECAR_MEMORY_LIMIT_BYTES)} >= 1.5 x minimum  [${shippedCoversIt ? 'met' : 'MISSED'}]`);
  console.log(`  minimum <= api/ figure ${megas(SIDECAR_MEMORY_MINIMUM_BYTES)}  [${measuredAsRecorded ? 'met' : 'MISSED'}]`);
  console.log(`  KubeVirt's default 64M (${mib(64 * MEGA)})  [${sidecar !== undefined && sidecar <= 64 * MEGA ? 'met' : 'missed (moonshot)'}]`);
  return withinEightOfFloor && shippedCoversIt && measuredAsRecorded;
}
