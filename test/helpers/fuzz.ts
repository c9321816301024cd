// Case counts for fast-check properties: FUZZ_RUNS per property (200 in the test suite), and,
// under `npm run fuzz`, a line per property in FUZZ_REPORT for the campaign's summary.
import { appendFileSync } from 'node:fs';

export const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 200);

/** Records how many cases a property ran, and how they came out. */
export function reportCases(property: string, outcomes: Record<string, number>): void {
  const report = process.env.FUZZ_REPORT;
  if (!report) return;
  const cases = Object.values(outcomes).reduce((sum, count) => sum + count, 0);
  appendFileSync(report, `${JSON.stringify({ property, cases, outcomes })}\n`);
}
