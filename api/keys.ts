// Every label and annotation under our prefix, and where each is read. A key under the prefix that
// is nowhere in this table is a misspelling, and one found where it is not read is ignored there:
// both would change nothing without a word, so the webhook warns about them.
import {
  ANNOTATION_DEFAULTED,
  ANNOTATION_DEVICES,
  ANNOTATION_MAX_GUEST,
  ANNOTATION_MEMLOCK_OVERHEAD,
  ANNOTATION_POD_NETWORK,
  KEY_PREFIX,
  LABEL_NAMESPACE_POLICY,
  LABEL_VM_ENABLED,
} from './names.ts';
import { nearest } from './nearest.ts';
import { TUNING_KEYS, TUNING_SCHEMA } from './tuning.ts';

/** Where a key can be found: a label or annotation of the VM itself, of its template, or of its Namespace. */
type Spot = 'vm-label' | 'vm-annotation' | 'template-annotation' | 'namespace-label' | 'namespace-annotation';

interface KnownKey {
  key: string;
  label: boolean;
  readIn: readonly Spot[];
  /** Where it is read, for the message about one found elsewhere. */
  readAs: string;
}

const TUNING_SPOTS: readonly Spot[] = ['vm-annotation', 'template-annotation', 'namespace-annotation'];

const KNOWN_KEYS: readonly KnownKey[] = [
  { key: LABEL_VM_ENABLED, label: true, readIn: ['vm-label'], readAs: 'a label of the VM itself' },
  { key: LABEL_NAMESPACE_POLICY, label: true, readIn: ['namespace-label'], readAs: 'a Namespace label' },
  ...TUNING_KEYS.map((key) => ({ key: TUNING_SCHEMA[key].annotation, label: false, readIn: TUNING_SPOTS, readAs: 'an annotation (VM, template or Namespace)' })),
  { key: ANNOTATION_POD_NETWORK, label: false, readIn: ['namespace-annotation'], readAs: 'a Namespace annotation' },
  // The sidecar reads these on the VMI, which takes its annotations from the template.
  ...[ANNOTATION_DEVICES, ANNOTATION_DEFAULTED, ANNOTATION_MEMLOCK_OVERHEAD, ANNOTATION_MAX_GUEST].map((key) => ({ key, label: false, readIn: ['template-annotation'] as const, readAs: 'a template annotation' })),
];

/** A labels or annotations map the webhook reads keys from, named as the messages name it. */
export interface KeyPlace {
  name: string;
  label: boolean;
  reads: readonly Spot[];
}

export const KEY_PLACES = {
  vmLabels: { name: 'label', label: true, reads: ['vm-label'] },
  vmAnnotations: { name: 'annotation', label: false, reads: ['vm-annotation'] },
  templateLabels: { name: 'template label', label: true, reads: [] },
  templateAnnotations: { name: 'template annotation', label: false, reads: ['template-annotation'] },
  /** A bare VMI's own annotations: what a VM's and its template's would say. */
  vmiAnnotations: { name: 'annotation', label: false, reads: ['vm-annotation', 'template-annotation'] },
  namespaceLabels: { name: 'Namespace label', label: true, reads: ['namespace-label'] },
  namespaceAnnotations: { name: 'Namespace annotation', label: false, reads: ['namespace-annotation'] },
} as const satisfies Record<string, KeyPlace>;

/**
 * One warning for each key under our prefix that is read nowhere (naming the nearest key of its
 * kind, label or annotation, after the prefix), or read elsewhere but not here (naming where).
 * Each fits a warning's 120 characters, for a misspelt name (after the prefix) of up to 35 characters.
 */
export function keyWarnings(place: KeyPlace, keys: Iterable<string>): string[] {
  const warnings: string[] = [];
  for (const key of keys) {
    if (!key.startsWith(KEY_PREFIX)) continue;
    const known = KNOWN_KEYS.find((entry) => entry.key === key);
    if (known === undefined) {
      const names = KNOWN_KEYS.filter((entry) => entry.label === place.label).map((entry) => entry.key.slice(KEY_PREFIX.length));
      warnings.push(`vduse: unknown ${place.name} ${key}; did you mean ${nearest(key.slice(KEY_PREFIX.length), names)!}?`);
    } else if (!known.readIn.some((spot) => place.reads.includes(spot))) {
      warnings.push(`vduse: ${place.name} ${key} is ignored: it is read as ${known.readAs}`);
    }
  }
  return warnings;
}
