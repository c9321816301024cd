// Kubernetes resource quantities with exact arithmetic: a value is an integer numerator over a
// power of ten, so "1.5Gi" + "512Mi" + 3 x "100M" loses nothing (a float would).
// Grammar: https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/
import { InvalidInputError } from './errors.ts';

export interface Quantity {
  /** The value is numerator / 10^scale. */
  numerator: bigint;
  scale: number;
}

const BINARY_SUFFIXES = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'] as const;
const DECIMAL_SUFFIXES: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/;

export const QUANTITY_EXPECTED = 'a Kubernetes quantity such as 2Gi, 2048Mi, 1.5G or 4294967296';

/** A non-negative quantity from an object's field, or an error naming the object, the field and the value. */
export function quantityField(subject: string, field: string, text: unknown): Quantity {
  const quantity = typeof text === 'string' || typeof text === 'number' ? parseQuantity(String(text)) : undefined;
  if (quantity === undefined || isNegative(quantity)) throw new InvalidInputError(subject, field, text, `${QUANTITY_EXPECTED}, not negative`);
  return quantity;
}

/** Undefined when the text is not a quantity. */
export function parseQuantity(text: string): Quantity | undefined {
  const match = QUANTITY.exec(text.trim());
  if (!match) return undefined;
  const [, sign = '', number = '', suffix = ''] = match;
  const [whole = '', fraction = ''] = number.split('.');
  let numerator = BigInt(`${whole || '0'}${fraction}`) * (sign === '-' ? -1n : 1n);
  let scale = fraction.length;
  const binaryPower = BINARY_SUFFIXES.indexOf(suffix as (typeof BINARY_SUFFIXES)[number]);
  if (suffix !== '' && binaryPower > 0) {
    numerator *= 1024n ** BigInt(binaryPower);
  } else {
    const exponent = suffix.startsWith('e') || suffix.startsWith('E') ? Number(suffix.slice(1)) : DECIMAL_SUFFIXES[suffix]!;
    if (Math.abs(exponent) > 100) return undefined;
    if (exponent >= 0) numerator *= 10n ** BigInt(exponent);
    else scale -= exponent;
  }
  return normalize({ numerator, scale });
}

function normalize(quantity: Quantity): Quantity {
  let { numerator, scale } = quantity;
  while (scale > 0 && numerator % 10n === 0n) {
    numerator /= 10n;
    scale -= 1;
  }
  return { numerator, scale };
}

function aligned(a: Quantity, b: Quantity): [bigint, bigint, number] {
  const scale = Math.max(a.scale, b.scale);
  return [a.numerator * 10n ** BigInt(scale - a.scale), b.numerator * 10n ** BigInt(scale - b.scale), scale];
}

export const quantityOf = (value: bigint): Quantity => ({ numerator: value, scale: 0 });

export function addQuantities(a: Quantity, b: Quantity): Quantity {
  const [x, y, scale] = aligned(a, b);
  return normalize({ numerator: x + y, scale });
}

export function subtractQuantities(a: Quantity, b: Quantity): Quantity {
  return addQuantities(a, { numerator: -b.numerator, scale: b.scale });
}

export function multiplyQuantity(a: Quantity, factor: bigint): Quantity {
  return normalize({ numerator: a.numerator * factor, scale: a.scale });
}

export function compareQuantities(a: Quantity, b: Quantity): number {
  const [x, y] = aligned(a, b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export const isNegative = (q: Quantity): boolean => q.numerator < 0n;

const UNITS_LARGEST_FIRST = [
  BINARY_SUFFIXES.map((suffix, power) => ({ suffix, unit: 1024n ** BigInt(power) })).reverse(),
  Object.entries(DECIMAL_SUFFIXES)
    .filter(([, exponent]) => exponent > 0)
    .map(([suffix, exponent]) => ({ suffix, unit: 10n ** BigInt(exponent) }))
    .reverse(),
];

/**
 * The shortest exact text for whole numbers, with the largest binary or decimal suffix that
 * divides them (binary on a tie); fractions in milli-units, rounded up when finer than that, as
 * the API server itself does.
 */
export function formatQuantity(quantity: Quantity): string {
  const { numerator, scale } = normalize(quantity);
  if (scale === 0) {
    if (numerator === 0n) return '0';
    const candidates = [String(numerator)];
    for (const family of UNITS_LARGEST_FIRST) {
      const largest = family.find(({ unit }) => numerator % unit === 0n);
      if (largest) candidates.push(`${numerator / largest.unit}${largest.suffix}`);
    }
    // The shortest; on a tie the binary form, the one memory is usually written in.
    return candidates.slice(1).concat(candidates[0]!).reduce((best, candidate) => (candidate.length < best.length ? candidate : best));
  }
  const divisor = 10n ** BigInt(Math.max(0, scale - 3));
  let milli = numerator * 10n ** BigInt(Math.max(0, 3 - scale));
  if (scale > 3) milli = numerator / divisor + (numerator % divisor > 0n ? 1n : 0n);
  return milli % 1000n === 0n ? formatQuantity(quantityOf(milli / 1000n)) : `${milli}m`;
}

export const GiB = quantityOf(1024n ** 3n);

/** Memory quantities count whole bytes, rounded up, as Kubernetes' Quantity.Value() does. */
export function wholeBytes(quantity: Quantity): bigint {
  if (quantity.scale <= 0) return quantity.numerator * 10n ** BigInt(-quantity.scale);
  const divisor = 10n ** BigInt(quantity.scale);
  return (quantity.numerator + divisor - 1n) / divisor;
}
