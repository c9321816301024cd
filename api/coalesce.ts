// Guest IRQ coalescing (virtio-net notification coalescing), in ethtool's own words.

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

/** Parses the annotation value; returns undefined when it does not follow the grammar. */
export function parseCoalesce(text: string): CoalesceSettings | undefined {
  const tokens = text.split(',').map((token) => token.trim());
  if (tokens.length === 1 && tokens[0] === 'off') return COALESCE_OFF;
  let adaptiveRx = false;
  const values: CoalesceSettings['values'] = {};
  for (const token of tokens) {
    if (token === 'adaptive-rx') {
      if (adaptiveRx) return undefined;
      adaptiveRx = true;
      continue;
    }
    const match = /^([a-z-]+)=(\d{1,10})$/.exec(token);
    const key = match?.[1] as CoalesceNumericKey | undefined;
    if (!match || !key || !COALESCE_NUMERIC_KEYS.includes(key) || key in values) return undefined;
    const value = Number(match[2]);
    if (value > U32_MAX) return undefined;
    values[key] = value;
  }
  return { adaptiveRx, values };
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
