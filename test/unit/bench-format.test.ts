// The benchmarks' report lines: a long failure reason is shortened at a word, never inside one.
import { describe, expect, it } from 'vitest';
import { cutAtWord } from '../bench/measure.ts';

describe('cutAtWord', () => {
  it('keeps short text, and cuts long text at the last space before the limit, with an ellipsis', () => {
    expect(cutAtWord('Info missed 1 s', 90)).toBe('Info missed 1 s');
    const reason = 'the sidecar did not answer Info within 1 s: deadline exceeded while the page cache refilled';
    const cut = cutAtWord(reason, 40);
    expect(cut).toBe('the sidecar did not answer Info within…');
    expect(cut.length).toBeLessThanOrEqual(40);
    expect(reason.startsWith(cut.slice(0, -1))).toBe(true);
    expect(reason[cut.length - 1]).toBe(' ');
  });
});
