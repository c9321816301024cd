// The tuning schema: one entry per annotation, from which the Tuning type, the parsers, the
// formatters and the defaults all derive.
import { COALESCE_EXPECTED, COALESCE_OFF, type CoalesceSettings, formatCoalesce, parseCoalesce, readCoalesce } from './coalesce.ts';
import { InvalidInputError } from './errors.ts';
import {
  ANNOTATION_COALESCE,
  ANNOTATION_MEMORY_HOTPLUG,
  ANNOTATION_NETWORKS,
  ANNOTATION_QUEUES,
  ANNOTATION_RX_QUEUE_SIZE,
  ANNOTATION_TX_QUEUE_SIZE,
} from './names.ts';

interface TuningField<T> {
  annotation: string;
  /** Human-readable allowed values, used in every error about this field. */
  expected: string;
  /** Returns undefined when the text is not a valid value. */
  parse(text: string): T | undefined;
  /** For a value made of items: the item that is wrong, and what was expected in its place. */
  problem?(text: string): { item: string; expected: string } | undefined;
  format(value: T): string;
  builtIn: T;
}

const defineField = <T>(field: TuningField<T>): TuningField<T> => field;

export const MIN_QUEUE_SIZE = 256;
export const MAX_QUEUE_SIZE = 1024;
export const MAX_QUEUES = 128;
export const DEFAULT_QUEUE_SIZE = 1024;

function parseQueueSize(text: string): number | undefined {
  if (!/^[1-9]\d{0,4}$/.test(text)) return undefined;
  const size = Number(text);
  const powerOfTwo = (size & (size - 1)) === 0;
  return powerOfTwo && size >= MIN_QUEUE_SIZE && size <= MAX_QUEUE_SIZE ? size : undefined;
}

const QUEUE_SIZE_EXPECTED = `a power of two from ${MIN_QUEUE_SIZE} to ${MAX_QUEUE_SIZE} (256, 512 or 1024)`;

export type QueuesSetting = number | 'auto';

function parseQueues(text: string): QueuesSetting | undefined {
  if (text === 'auto') return 'auto';
  if (!/^[1-9]\d{0,2}$/.test(text)) return undefined;
  const queues = Number(text);
  return queues <= MAX_QUEUES ? queues : undefined;
}

/**
 * memory-hotplug: "auto" turns KubeVirt's memory hotplug off for a VM with two or more VDUSE
 * interfaces, where each would multiply the memlock overhead by maxGuest; "keep" leaves it.
 */
export const MEMORY_HOTPLUG_POLICIES = ['auto', 'keep'] as const;
export type MemoryHotplugPolicy = (typeof MEMORY_HOTPLUG_POLICIES)[number];
const parseMemoryHotplug = (text: string): MemoryHotplugPolicy | undefined => MEMORY_HOTPLUG_POLICIES.find((policy) => policy === text);

/** A VMI network name, as KubeVirt accepts it. */
const NETWORK_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

function parseNetworks(text: string): readonly string[] | undefined {
  const names = text.split(',').map((name) => name.trim());
  const valid = names.every((name) => NETWORK_NAME.test(name)) && new Set(names).size === names.length;
  return valid ? names : undefined;
}

export const TUNING_SCHEMA = {
  rxQueueSize: defineField<number>({
    annotation: ANNOTATION_RX_QUEUE_SIZE,
    expected: QUEUE_SIZE_EXPECTED,
    parse: parseQueueSize,
    format: String,
    builtIn: DEFAULT_QUEUE_SIZE,
  }),
  txQueueSize: defineField<number>({
    annotation: ANNOTATION_TX_QUEUE_SIZE,
    expected: QUEUE_SIZE_EXPECTED,
    parse: parseQueueSize,
    format: String,
    builtIn: DEFAULT_QUEUE_SIZE,
  }),
  queues: defineField<QueuesSetting>({
    annotation: ANNOTATION_QUEUES,
    expected: `an integer from 1 to ${MAX_QUEUES}, or "auto"`,
    parse: parseQueues,
    format: String,
    builtIn: 1,
  }),
  coalesce: defineField<CoalesceSettings>({
    annotation: ANNOTATION_COALESCE,
    expected: COALESCE_EXPECTED,
    parse: parseCoalesce,
    problem: (text) => {
      const settings = readCoalesce(text);
      return 'problem' in settings ? settings.problem : undefined;
    },
    format: formatCoalesce,
    builtIn: COALESCE_OFF,
  }),
  /** Read by the webhook only: the sidecar has nothing to do with it. */
  memoryHotplug: defineField<MemoryHotplugPolicy>({
    annotation: ANNOTATION_MEMORY_HOTPLUG,
    expected: '"auto" (no memory hotplug for a VM with two or more VDUSE interfaces, unless it sets maxGuest) or "keep"',
    parse: parseMemoryHotplug,
    format: String,
    builtIn: 'auto',
  }),
  /** Undefined: the networks whose NetworkAttachmentDefinition names the VDUSE resource. */
  networks: defineField<readonly string[] | undefined>({
    annotation: ANNOTATION_NETWORKS,
    expected: 'a comma list of distinct VMI network names (letters, digits, ".", "_", "-"; at most 63 characters each)',
    parse: parseNetworks,
    format: (names) => (names ?? []).join(','),
    builtIn: undefined,
  }),
};

export type TuningKey = keyof typeof TUNING_SCHEMA;
export type Tuning = { [K in TuningKey]: (typeof TUNING_SCHEMA)[K]['builtIn'] };
export const TUNING_KEYS = Object.keys(TUNING_SCHEMA) as TuningKey[];

export const BUILT_IN_TUNING: Tuning = Object.freeze(
  Object.fromEntries(TUNING_KEYS.map((key) => [key, TUNING_SCHEMA[key].builtIn])) as Tuning,
);

/** Parses one tuning value; the error names the subject, the annotation, the value and the allowed range. */
export function parseTuningValue<K extends TuningKey>(key: K, text: string, subject: string): Tuning[K] {
  const field = TUNING_SCHEMA[key] as unknown as TuningField<Tuning[K]>;
  const value = field.parse(text.trim());
  if (value !== undefined) return value;
  // Name the item that is wrong (rx-usecs=-5 of a coalesce list), not only the whole grammar.
  const problem = field.problem?.(text.trim());
  if (problem !== undefined) throw new InvalidInputError(subject, `annotation ${field.annotation}`, problem.item, problem.expected);
  throw new InvalidInputError(subject, `annotation ${field.annotation}`, text, field.expected);
}

export function formatTuningValue<K extends TuningKey>(key: K, value: Tuning[K]): string {
  return (TUNING_SCHEMA[key] as unknown as TuningField<Tuning[K]>).format(value);
}

/** Reads the tuning annotations present on an object; absent ones stay absent. Throws on the first invalid one. */
export function parseTuningAnnotations(annotations: Readonly<Record<string, string>> | undefined, subject: string): Partial<Tuning> {
  const tuning: Partial<Record<TuningKey, unknown>> = {};
  for (const key of TUNING_KEYS) {
    const text = annotations?.[TUNING_SCHEMA[key].annotation];
    if (text !== undefined) tuning[key] = parseTuningValue(key, text, subject);
  }
  return tuning as Partial<Tuning>;
}

/** The canonical annotations for a resolved tuning. `networks` is written only when it is explicit. */
export function formatTuningAnnotations(tuning: Tuning): Record<string, string> {
  const annotations: Record<string, string> = {};
  for (const key of TUNING_KEYS) {
    if (tuning[key] === undefined) continue;
    annotations[TUNING_SCHEMA[key].annotation] = formatTuningValue(key, tuning[key]);
  }
  return annotations;
}
