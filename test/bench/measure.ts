// Small timing helpers for the benchmarks: alternate rounds of candidate and baseline so that both
// see the same machine state, and report medians.
export interface Timing {
  /** Median microseconds per call over the rounds. */
  medianMicros: number;
  /** 99th percentile microseconds per call over the rounds. */
  p99Micros: number;
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;

/** Runs each function `callsPerRound` times per round, alternating, and times each round. */
export function compare(functions: Record<string, () => unknown>, options: { rounds: number; callsPerRound: number; warmUpCalls: number }): Record<string, Timing> {
  const names = Object.keys(functions);
  for (const name of names) for (let i = 0; i < options.warmUpCalls; i++) functions[name]!();
  const samples: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 0; round < options.rounds; round++) {
    for (const name of names) {
      const run = functions[name]!;
      const start = process.hrtime.bigint();
      for (let i = 0; i < options.callsPerRound; i++) run();
      samples[name]!.push(Number(process.hrtime.bigint() - start) / 1000 / options.callsPerRound);
    }
  }
  return Object.fromEntries(
    names.map((name) => {
      const sorted = samples[name]!.sort((a, b) => a - b);
      return [name, { medianMicros: percentile(sorted, 50), p99Micros: percentile(sorted, 99) }];
    }),
  );
}

export const formatMicros = (micros: number): string => (micros >= 1000 ? `${(micros / 1000).toFixed(2)} ms` : `${micros.toFixed(1)} µs`);

/** Text cut to at most max characters at a word boundary, with "…" when cut: never mid-word. */
export function cutAtWord(text: string, max: number): string {
  if (text.length <= max) return text;
  const head = text.slice(0, max - 1);
  const space = head.lastIndexOf(' ');
  return `${(space > 0 ? head.slice(0, space) : head).trimEnd()}…`;
}
