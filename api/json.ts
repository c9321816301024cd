import { InvalidInputError } from './errors.ts';

/** A JSON object: not null, not an array. */
export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A labels or annotations map: {} when absent, else every value a string, or an error naming the field. */
export function stringMapField(value: unknown, subject: string, field: string): Record<string, string> {
  if (value === undefined) return {};
  if (!isObject(value) || !Object.values(value).every((entry) => typeof entry === 'string')) throw new InvalidInputError(subject, field, value, 'a map of strings');
  return value as Record<string, string>;
}
