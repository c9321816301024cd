// Case counts for fast-check properties: FUZZ_RUNS per property (200 in the test suite), and,
// under `npm run fuzz`, a line per property in FUZZ_REPORT for the campaign's summary and progress
// lines in FUZZ_PROGRESS, which scripts/fuzz.ts turns into progress and the time left.
import { appendFileSync } from 'node:fs';
import fc from 'fast-check';

export const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 200);

/** Records how many cases a property ran, and how they came out. */
export function reportCases(property: string, outcomes: Record<string, number>): void {
  const report = process.env.FUZZ_REPORT;
  if (!report) return;
  const cases = Object.values(outcomes).reduce((sum, count) => sum + count, 0);
  appendFileSync(report, `${JSON.stringify({ property, cases, outcomes })}\n`);
}

export interface ProgressLine {
  property: string;
  done: number;
  of: number;
  /** Date.now() when this many cases were done. */
  at: number;
}

/** fc.assert's parameters for a property: FUZZ_RUNS cases, reporting every 2% of them to FUZZ_PROGRESS when set. */
export function fuzzParameters(property: string): { numRuns: number; plugins: ReturnType<typeof fc.afterEach>[] } {
  const progress = process.env.FUZZ_PROGRESS;
  if (!progress) return { numRuns: FUZZ_RUNS, plugins: [] };
  const step = Math.max(1, Math.floor(FUZZ_RUNS / 50));
  let done = 0;
  const tick = () => {
    done++;
    if (done % step === 0) appendFileSync(progress, `${JSON.stringify({ property, done, of: FUZZ_RUNS, at: Date.now() } satisfies ProgressLine)}\n`);
  };
  return { numRuns: FUZZ_RUNS, plugins: [fc.afterEach(tick)] };
}
