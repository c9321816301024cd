// npm run fuzz: the fast-check properties as a long campaign (FUZZ_RUNS cases each, 100,000 by
// default), with progress every 5 s and the time left, then a table of the cases each property ran
// and how they came out. The two property files run side by side, one per core.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProgressLine } from '../test/helpers/fuzz.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const runs = Number(process.env.FUZZ_RUNS ?? '100000');
const PROPERTY_FILES = ['test/unit/webhook-properties.test.ts', 'test/unit/rewrite-properties.test.ts'];
/** How many properties those files check with withProgress(). */
const PROPERTIES = 5;
const dir = mkdtempSync(join(tmpdir(), 'vduse-fuzz-'));
const report = join(dir, 'cases.jsonl');
const progress = join(dir, 'progress.jsonl');
const started = Date.now();
const seconds = (ms: number) => (ms >= 60_000 ? `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s` : `${Math.round(ms / 1000)} s`);
const readLines = <T>(file: string): T[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as T) : []);

console.log(`fuzz: ${PROPERTIES} properties, ${runs.toLocaleString('en-US')} cases each, in ${PROPERTY_FILES.length} files side by side; progress every 5 s with the time left (set FUZZ_RUNS for another count)`);

/** Per property, its first and latest progress lines. */
function spans(file: string): Map<string, { first: ProgressLine; last: ProgressLine }> {
  const found = new Map<string, { first: ProgressLine; last: ProgressLine }>();
  for (const line of readLines<ProgressLine>(file)) found.set(line.property, { first: found.get(line.property)?.first ?? line, last: line });
  return found;
}

/** Cases per millisecond between a property's first and latest progress lines. */
const rate = ({ first, last }: { first: ProgressLine; last: ProgressLine }) => (last.done - first.done) / Math.max(1, last.at - first.at);

/** Per property that has started, how far it is and, from its rate so far, the time it has left. */
function status(): string[] {
  return [...spans(progress).entries()].map(([property, span]) => {
    const { last } = span;
    const left = last.done >= last.of || rate(span) === 0 ? undefined : (last.of - last.done) / rate(span);
    return `  ${((100 * last.done) / last.of).toFixed(0).padStart(3)}%  ${property}${last.done >= last.of ? ', done' : left === undefined ? '' : `, about ${seconds(left)} left`}`;
  });
}

function campaign(cases: number, progressFile: string, reportFile: string, output: 'inherit' | 'ignore'): Promise<number> {
  const child = spawn(join(root, 'node_modules', '.bin', 'vitest'), ['run', ...PROPERTY_FILES, '--testTimeout=0', '--reporter=dot'], {
    cwd: root,
    stdio: ['ignore', output, output],
    env: { ...process.env, FUZZ_RUNS: String(cases), FUZZ_REPORT: reportFile, FUZZ_PROGRESS: progressFile },
  });
  return new Promise<number>((resolve) => child.on('exit', (exitCode) => resolve(exitCode ?? 1)));
}

/**
 * The expected duration, from a calibration run of 1% of the cases: each property's time per case,
 * scaled up. The properties of one file run one after another and the two files side by side, so
 * the estimate is the larger of the longest property and half the sum.
 */
async function estimate(): Promise<number | undefined> {
  const cases = Math.max(200, Math.round(runs / 100));
  if (cases >= runs) return undefined;
  const calibration = join(dir, 'calibration.jsonl');
  await campaign(cases, calibration, join(dir, 'calibration-cases.jsonl'), 'ignore');
  const perProperty = [...spans(calibration).values()].filter((span) => rate(span) > 0).map((span) => runs / rate(span));
  if (perProperty.length === 0) return undefined;
  return Math.max(Math.max(...perProperty), perProperty.reduce((sum, ms) => sum + ms, 0) / PROPERTY_FILES.length);
}

console.log('fuzz: calibrating on 1% of the cases to estimate the duration ...');
const expectedMs = await estimate();
if (expectedMs !== undefined) console.log(`fuzz: expected to take about ${seconds(expectedMs)} (until about ${new Date(Date.now() + expectedMs).toISOString().slice(11, 19)} UTC)`);
const ticker = setInterval(() => {
  const lines = status();
  if (lines.length > 0) console.log(`fuzz: ${seconds(Date.now() - started)} elapsed\n${lines.join('\n')}`);
}, 5000);
const code = await campaign(runs, progress, report, 'inherit');
clearInterval(ticker);

const lines = readLines<{ property: string; cases: number; outcomes: Record<string, number> }>(report);
console.log(`\nfuzz campaign: ${runs} cases per property, ${((Date.now() - started) / 1000).toFixed(0)} s`);
for (const { property, cases, outcomes } of lines) {
  console.log(`  ${cases.toLocaleString('en-US').padStart(9)}  ${property}  (${Object.entries(outcomes).map(([name, count]) => `${name} ${count}`).join(', ')})`);
}
process.exitCode = code;
