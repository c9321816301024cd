// Instancetypes and preferences, as far as the decision needs them: the memory and
// dedicatedCPUPlacement an instancetype supplies, and a preference's
// preferredAutoattachPodInterface. How a VM names them, and where KubeVirt looks them up, follows
// pkg/instancetype/find/spec.go and pkg/instancetype/preference/find/spec.go: a revisionName (a
// ControllerRevision in the VM's Namespace holding the object) wins; otherwise the kind, matched
// in lower case, singular or plural, with the cluster-wide kind when it is empty.
import { isObject } from '../api/json.ts';
import type { InstancetypeMemory } from './memory-layout.ts';

export type MatcherKind = 'instancetype' | 'preference';

/** Where an instancetype or preference is read from. */
export type MatcherSource =
  | { from: 'revision'; namespace: string; name: string }
  | { from: 'object'; plural: string; kind: string; namespace: string | undefined; name: string };

export interface MatcherReference {
  kind: MatcherKind;
  /** For messages: "spec.instancetype". */
  field: string;
  /** For messages: 'VirtualMachineClusterInstancetype "u1.medium"'. */
  described: string;
  source: MatcherSource;
}

const RESOURCES = {
  instancetype: { namespaced: ['VirtualMachineInstancetype', 'virtualmachineinstancetypes'], cluster: ['VirtualMachineClusterInstancetype', 'virtualmachineclusterinstancetypes'] },
  preference: { namespaced: ['VirtualMachinePreference', 'virtualmachinepreferences'], cluster: ['VirtualMachineClusterPreference', 'virtualmachineclusterpreferences'] },
} as const;

export type MatcherResult = { reference: MatcherReference } | { none: true } | { inferred: string } | { invalid: string };

/** The instancetype or preference a VirtualMachine spec names. */
export function matcherReference(kind: MatcherKind, vmSpec: unknown, namespace: string): MatcherResult {
  const field = `spec.${kind}`;
  const matcher = isObject(vmSpec) ? vmSpec[kind] : undefined;
  if (matcher === undefined) return { none: true };
  if (!isObject(matcher)) return { invalid: `${field}: got ${JSON.stringify(matcher)}; expected an object with name and kind` };
  const { name, revisionName, inferFromVolume } = matcher;
  const requested = typeof matcher.kind === 'string' ? matcher.kind.toLowerCase() : '';
  const { namespaced, cluster } = RESOURCES[kind];
  const which = [namespaced[0].toLowerCase(), namespaced[1]].includes(requested) ? namespaced : requested === '' || [cluster[0].toLowerCase(), cluster[1]].includes(requested) ? cluster : undefined;
  if (which === undefined) return { invalid: `${field}.kind: got ${JSON.stringify(matcher.kind)}; expected ${namespaced[0]} or ${cluster[0]}` };
  if (typeof name !== 'string' || name === '') {
    if (typeof inferFromVolume === 'string') return { inferred: inferFromVolume };
    return { invalid: `${field}.name: got ${JSON.stringify(name)}; expected the ${which[0]}'s name` };
  }
  const described = `${which[0]} ${JSON.stringify(name)}`;
  if (typeof revisionName === 'string' && revisionName !== '') {
    return { reference: { kind, field, described: `${described} (ControllerRevision ${namespace}/${revisionName})`, source: { from: 'revision', namespace, name: revisionName } } };
  }
  return { reference: { kind, field, described, source: { from: 'object', kind: which[0], plural: which[1], namespace: which === namespaced ? namespace : undefined, name } } };
}

/** What the decision reads of an instancetype. */
export interface InstancetypeFacts {
  /** spec.memory: what the VMI's memory layout takes from it (webhook/memory-layout.ts). */
  memory: InstancetypeMemory;
  dedicatedCPUPlacement: boolean;
}

/** What the decision reads of a preference. */
export interface PreferenceFacts {
  preferredAutoattachPodInterface: boolean | undefined;
}

/** The instancetype or preference object itself, from a ControllerRevision's data or as is. */
function specOf(object: unknown): Record<string, unknown> {
  const data = isObject(object) && object.kind === 'ControllerRevision' ? object.data : object;
  return isObject(data) && isObject(data.spec) ? data.spec : {};
}

const quantityText = (value: unknown): string | undefined => (typeof value === 'string' || typeof value === 'number' ? String(value) : undefined);

export function instancetypeFacts(object: unknown): InstancetypeFacts {
  const spec = specOf(object);
  const memory = isObject(spec.memory) ? spec.memory : {};
  const cpu = isObject(spec.cpu) ? spec.cpu : {};
  const hugepages = isObject(memory.hugepages) && typeof memory.hugepages.pageSize === 'string' ? memory.hugepages.pageSize : undefined;
  return {
    memory: {
      guest: quantityText(memory.guest),
      maxGuest: quantityText(memory.maxGuest),
      overcommitPercent: typeof memory.overcommitPercent === 'number' ? memory.overcommitPercent : undefined,
      hugepagesPageSize: hugepages,
    },
    dedicatedCPUPlacement: cpu.dedicatedCPUPlacement === true,
  };
}

export function preferenceFacts(object: unknown): PreferenceFacts {
  const devices = specOf(object).devices;
  const preferred = isObject(devices) ? devices.preferredAutoattachPodInterface : undefined;
  return { preferredAutoattachPodInterface: typeof preferred === 'boolean' ? preferred : undefined };
}
