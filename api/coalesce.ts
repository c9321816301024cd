// Guest IRQ coalescing (virtio-net notification coalescing), in ethtool's own words.
import { nearest } from './nearest.ts';

/** The numeric ethtool -C settings the annotation may carry, in canonical order. */
export const COALESCE_NUMERIC_KEYS = ['rx-usecs', 'rx-frames', 'tx-usecs', 'tx-frames'] as const;
export type CoalesceNumericKey = (typeof COALESCE_NUMERIC_KEYS)[number];

export interface CoalesceSettings {
  adaptiveRx: boolean;
  values: Partial<Record<CoalesceNumericKey, number>>;
}

export const COALESCE_OFF: CoalesceSettings = Object.freeze({ adaptiveRx: false, values: Object.freeze({}) });

const U32_MAX = 0xffff_ffff;

export const COALESCE_EXPECTED =
  '"off", "adaptive-rx", or a comma list of rx-usecs=N, rx-frames=N, tx-usecs=N, tx-frames=N ' +
  `(N from 0 to ${U32_MAX}, each key at most once), optionally with adaptive-rx`;

/** The item of the value that is wrong, and what would be right in its place. */
export interface CoalesceProblem {
  item: string;
  expected: string;
}

const VALUE_EXPECTED = `a whole number from 0 to ${U32_MAX}`;

/** The settings, or the first item that does not follow the grammar and why. */
export function readCoalesce(text: string): CoalesceSettings | { problem: CoalesceProblem } {
  const tokens = text.split(',').map((token) => token.trim());
  if (tokens.length === 1 && tokens[0] === 'off') return COALESCE_OFF;
  const problem = (item: string, expected: string) => ({ problem: { item, expected } });
  if (text.trim() === '') return problem(text, COALESCE_EXPECTED);
  let adaptiveRx = false;
  const values: CoalesceSettings['values'] = {};
  for (const token of tokens) {
    if (token === 'adaptive-rx') {
      if (adaptiveRx) return problem(token, 'each setting at most once, and adaptive-rx is already there');
      adaptiveRx = true;
      continue;
    }
    if (token === '') return problem(token, 'a setting between each two commas');
    if (token === 'off') return problem(token, '"off" alone, not beside other settings');
    const at = token.indexOf('=');
    if (at < 0) return problem(token, `off, adaptive-rx, or KEY=N (did you mean ${nearest(token, ['off', 'adaptive-rx', ...COALESCE_NUMERIC_KEYS.map((key) => `${key}=N`)])!}?)`);
    const key = token.slice(0, at) as CoalesceNumericKey;
    if (!COALESCE_NUMERIC_KEYS.includes(key)) return problem(token, `one of ${COALESCE_NUMERIC_KEYS.join(', ')} before "=" (did you mean ${nearest(key, COALESCE_NUMERIC_KEYS)!}?)`);
    if (key in values) return problem(token, `each setting at most once, and ${key}=${String(values[key])} is already there`);
    const number = token.slice(at + 1);
    if (!/^\d{1,10}$/.test(number) || Number(number) > U32_MAX) return problem(token, `${key}=N with N ${VALUE_EXPECTED}`);
    values[key] = Number(number);
  }
  return { adaptiveRx, values };
}

/** Parses the annotation value; returns undefined when it does not follow the grammar. */
export function parseCoalesce(text: string): CoalesceSettings | undefined {
  const settings = readCoalesce(text);
  return 'problem' in settings ? undefined : settings;
}

export function isCoalesceOff(settings: CoalesceSettings): boolean {
  return !settings.adaptiveRx && COALESCE_NUMERIC_KEYS.every((key) => settings.values[key] === undefined);
}

export function formatCoalesce(settings: CoalesceSettings): string {
  if (isCoalesceOff(settings)) return 'off';
  return [
    ...(settings.adaptiveRx ? ['adaptive-rx'] : []),
    ...COALESCE_NUMERIC_KEYS.flatMap((key) => {
      const value = settings.values[key];
      return value === undefined ? [] : [`${key}=${value}`];
    }),
  ].join(',');
}

/** The arguments that follow `ethtool -C <iface>` to apply these settings. */
export function coalesceEthtoolArguments(settings: CoalesceSettings): string[] {
  return [
    ...(settings.adaptiveRx ? ['adaptive-rx', 'on'] : []),
    ...COALESCE_NUMERIC_KEYS.flatMap((key) => {
      const value = settings.values[key];
      return value === undefined ? [] : [key, String(value)];
    }),
  ];
}
