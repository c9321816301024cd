// npm run fuzz: the fast-check properties as a long campaign (FUZZ_RUNS cases each, 100,000 by
// default), then a table of the cases each property ran and how they came out.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const runs = process.env.FUZZ_RUNS ?? '100000';
const report = join(mkdtempSync(join(tmpdir(), 'vduse-fuzz-')), 'cases.jsonl');
const started = Date.now();
const result = spawnSync(
  join(root, 'node_modules', '.bin', 'vitest'),
  ['run', 'test/unit/webhook-properties.test.ts', 'test/unit/rewrite-properties.test.ts', '--testTimeout=0', '--reporter=dot'],
  { cwd: root, stdio: 'inherit', env: { ...process.env, FUZZ_RUNS: runs, FUZZ_REPORT: report } },
);
const lines = readFileSync(report, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as { property: string; cases: number; outcomes: Record<string, number> });
console.log(`\nfuzz campaign: ${runs} cases per property, ${((Date.now() - started) / 1000).toFixed(0)} s`);
for (const { property, cases, outcomes } of lines) {
  console.log(`  ${cases.toLocaleString('en-US').padStart(9)}  ${property}  (${Object.entries(outcomes).map(([name, count]) => `${name} ${count}`).join(', ')})`);
}
process.exitCode = result.status ?? 1;
