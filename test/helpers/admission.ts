// Driving the webhook's decision in tests: facts about the cluster in a few words, and patches
// applied by a second RFC 6902 implementation (rfc6902), not the fast-json-patch that made them.
import { applyPatch } from 'rfc6902';
import type { Operation } from 'fast-json-patch';
import { DEFAULT_CONFIG, type WebhookConfig } from '../../webhook/config.ts';
import { ABSENT, failed, found, type Lookup, type NadFacts, type NamespaceFacts } from '../../webhook/lookup.ts';
import { type KubevirtFacts, kubevirtFacts } from '../../cluster/kubevirt-readiness.ts';
import { decideAdmission, type Decision, lookupsFor, type MutatedKind } from '../../webhook/mutation.ts';
import { NAMESPACE, VDUSE_RESOURCE } from './vms.ts';

export interface Scenario {
  kind?: MutatedKind;
  operation?: string;
  /** What is stored, on an UPDATE. */
  oldObject?: unknown;
  namespace?: string;
  namespaceLabels?: Record<string, string>;
  namespaceAnnotations?: Record<string, string>;
  /** Namespace lookup failed with this reason. */
  namespaceUnreadable?: string;
  /** NAD name (same namespace, or "namespace/name") -> resourceName, or null for a lookup that failed. */
  nads?: Record<string, string | null>;
  config?: Partial<WebhookConfig>;
  /** The VM's preference sets preferredAutoattachPodInterface. */
  preferredAutoattachPodInterface?: boolean;
  /** What reading the VM's instancetype gives: the object, null when it does not exist, or a failure. */
  instancetype?: object | null | { unreadable: string };
  preference?: object | null | { unreadable: string };
  /** The KubeVirt CR: READY_KUBEVIRT unless given; null when there is none. */
  kubevirt?: object | null | { unreadable: string };
}

/**
 * A KubeVirt CR with what deploy/kubevirt/register-vduse.jq adds, shaped as the API server
 * returns it (spec.configuration as in KubeVirt's round-trip object, status with the version).
 */
interface KubevirtConfiguration {
  network: { binding: Record<string, { sidecarImage?: string; downwardAPI?: string; migration: object }> };
  developerConfiguration: { featureGates: string[] };
  supportContainerResources?: { type: string; resources: { limits: { memory: string } } }[];
}

export const READY_KUBEVIRT: { apiVersion: string; kind: string; metadata: { name: string; namespace: string }; spec: { configuration: KubevirtConfiguration }; status: object } = {
  apiVersion: 'kubevirt.io/v1',
  kind: 'KubeVirt',
  metadata: { name: 'kubevirt', namespace: 'kubevirt' },
  spec: {
    configuration: {
      network: {
        binding: {
          vduse: { sidecarImage: 'registry.example/kubevirt-vduse/sidecar:0.1.0', downwardAPI: 'device-info', migration: {} },
          'vduse-cloudinit': { sidecarImage: 'registry.example/kubevirt-vduse/sidecar-cloudinit:0.1.0', downwardAPI: 'device-info', migration: {} },
        },
      },
      developerConfiguration: { featureGates: ['Snapshot', 'ReservedOverheadMemlock'] },
      supportContainerResources: [{ type: 'sidecar', resources: { limits: { memory: '128M' } } }],
    },
  },
  status: { phase: 'Deployed', observedKubeVirtVersion: 'v1.8.0' },
};

const asLookup = (value: object | null | { unreadable: string }): Lookup<unknown> =>
  value === null ? ABSENT : 'unreadable' in value ? failed(value.unreadable) : found(value);

export const POLICY_ENABLED = { 'vduse.kubevirt.io/policy': 'enabled' };
/** Two NADs: one on the VDUSE device plugin, one on SR-IOV. */
export const NADS = { 'ovs-vduse-a': VDUSE_RESOURCE, 'ovs-vduse-b': VDUSE_RESOURCE, 'sriov-net': 'intel.com/sriov' };

export function decideFor(object: unknown, scenario: Scenario = {}): Decision {
  const namespace = scenario.namespace ?? NAMESPACE;
  const namespaceLookup: Lookup<NamespaceFacts> =
    scenario.namespaceUnreadable !== undefined
      ? failed(scenario.namespaceUnreadable)
      : found({ labels: scenario.namespaceLabels ?? {}, annotations: scenario.namespaceAnnotations ?? {} });
  const known = new Map<string, Lookup<NadFacts>>(
    Object.entries(scenario.nads ?? NADS).map(([name, resourceName]) => [name.includes('/') ? name : `${namespace}/${name}`, resourceName === null ? failed('HTTP 500') : found({ resourceName })]),
  );
  const subject = { kind: scenario.kind ?? 'VirtualMachine', operation: scenario.operation ?? 'CREATE', namespace, object, oldObject: scenario.oldObject };
  // As admit() does: every referenced NetworkAttachmentDefinition is looked up; unknown ones are absent.
  const nads = new Map(lookupsFor(subject).nads.map((key) => [key, known.get(key) ?? ABSENT]));
  const preference =
    scenario.preference !== undefined
      ? scenario.preference
      : (scenario.preferredAutoattachPodInterface !== undefined ? { spec: { devices: { preferredAutoattachPodInterface: scenario.preferredAutoattachPodInterface } } } : undefined);
  const matchers = {
    ...(scenario.instancetype !== undefined ? { instancetype: asLookup(scenario.instancetype) } : {}),
    ...(preference !== undefined ? { preference: asLookup(preference) } : {}),
  };
  const kubevirtGiven = scenario.kubevirt === undefined ? READY_KUBEVIRT : scenario.kubevirt;
  const kubevirt: Lookup<KubevirtFacts> = kubevirtGiven === null ? ABSENT : 'unreadable' in kubevirtGiven ? failed(`unreadable (${String(kubevirtGiven.unreadable)})`) : found(kubevirtFacts(kubevirtGiven));
  return decideAdmission(subject, { namespace: namespaceLookup, nads, matchers, kubevirt }, { ...DEFAULT_CONFIG, ...scenario.config });
}

/** The object with the patch applied by rfc6902; throws on any operation that does not apply. */
export function applyIndependently<T>(object: T, patch: readonly Operation[]): T {
  const copy = structuredClone(object);
  const results = applyPatch(copy, structuredClone(patch) as Parameters<typeof applyPatch>[1]);
  const failures = results.map((result, index) => (result ? `${patch[index]!.op} ${patch[index]!.path}: ${result.name}` : undefined)).filter(Boolean);
  if (failures.length > 0) throw new Error(`patch does not apply: ${failures.join('; ')}`);
  return copy;
}

/** READY_KUBEVIRT with one change to its configuration. */
export function kubevirtWith(change: (configuration: KubevirtConfiguration) => void): typeof READY_KUBEVIRT {
  const copy = structuredClone(READY_KUBEVIRT);
  change(copy.spec.configuration);
  return copy;
}
