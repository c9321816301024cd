// Resolution of the effective tuning: built-in defaults, then cluster config, then Namespace
// annotations, then VM annotations. Each value remembers the layer it came from.
import { BUILT_IN_TUNING, TUNING_KEYS, type Tuning, type TuningKey } from './tuning.ts';

export const TUNING_SOURCES = ['built-in', 'cluster', 'namespace', 'vm'] as const;
export type TuningSource = (typeof TUNING_SOURCES)[number];

export interface TuningLayers {
  cluster?: Partial<Tuning>;
  namespace?: Partial<Tuning>;
  vm?: Partial<Tuning>;
}

export interface ResolvedTuning {
  tuning: Tuning;
  sources: Record<TuningKey, TuningSource>;
}

export function resolveTuning(layers: TuningLayers): ResolvedTuning {
  const tuning: Record<string, unknown> = { ...BUILT_IN_TUNING };
  const sources = Object.fromEntries(TUNING_KEYS.map((key) => [key, 'built-in'])) as Record<TuningKey, TuningSource>;
  for (const source of ['cluster', 'namespace', 'vm'] as const) {
    const layer = layers[source];
    if (!layer) continue;
    for (const key of TUNING_KEYS) {
      if (layer[key] === undefined) continue;
      tuning[key] = layer[key];
      sources[key] = source;
    }
  }
  return { tuning: tuning as Tuning, sources };
}
