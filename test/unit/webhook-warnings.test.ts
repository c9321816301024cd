import { describe, expect, it } from 'vitest';
import { limitWarning, MAX_WARNING_LENGTH } from '../../webhook/warnings.ts';

describe('limitWarning', () => {
  const names = Array.from({ length: 12 }, (_, i) => `dataplane-network-${i}`);
  const long = `vduse: interfaces ${names.join(', ')} now use binding vduse`;

  it('leaves a warning within the limit as it is', () => {
    const text = 'vduse: interfaces dataplane now use binding vduse';
    expect(limitWarning(text)).toBe(text);
    expect(limitWarning('x'.repeat(MAX_WARNING_LENGTH))).toBe('x'.repeat(MAX_WARNING_LENGTH));
  });

  it('cuts a longer one after its last whole word that fits, without the comma, and marks the cut', () => {
    const cut = limitWarning(long);
    expect(cut.length).toBeLessThanOrEqual(MAX_WARNING_LENGTH);
    expect(cut).toBe('vduse: interfaces dataplane-network-0, dataplane-network-1, dataplane-network-2, dataplane-network-3…');
    // Every name in it is whole: a prefix of the text that ends where a word ends.
    const kept = cut.slice(0, -1);
    expect(long.startsWith(kept)).toBe(true);
    expect(long.slice(kept.length)).toMatch(/^[,;:]* /);
  });

  it('keeps a word that ends exactly at the limit', () => {
    const text = `${'a'.repeat(MAX_WARNING_LENGTH - 2)} tail`;
    expect(limitWarning(text)).toBe(`${'a'.repeat(MAX_WARNING_LENGTH - 2)}…`);
    const exact = `${'b '.repeat(59)}c tail`;
    expect(exact[MAX_WARNING_LENGTH - 1]).toBe(' ');
    expect(limitWarning(exact)).toBe(`${exact.slice(0, MAX_WARNING_LENGTH - 1)}…`);
  });

  it('cuts a text without spaces where the limit falls', () => {
    expect(limitWarning('y'.repeat(200))).toBe(`${'y'.repeat(MAX_WARNING_LENGTH - 1)}…`);
  });
});
