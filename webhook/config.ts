// The webhook's config file (YAML): parsed and checked in full, so that a bad file is refused as a
// whole with every field named, and never half-applied.
import { parseDocument } from 'yaml';
import { InvalidInputError } from '../api/errors.ts';
import { isObject } from '../api/json.ts';
import { DEFAULT_BINDING_PLUGIN_NAME, DEFAULT_VDUSE_RESOURCE_NAME, POD_NETWORK_VALUES, type PodNetworkKind } from '../api/names.ts';
import { parseTuningValue, TUNING_KEYS, TUNING_SCHEMA, type Tuning, type TuningKey } from '../api/tuning.ts';

export const LOOKUP_FAILURE_POLICIES = ['deny', 'allow'] as const;
export type LookupFailurePolicy = (typeof LOOKUP_FAILURE_POLICIES)[number];

/** The tuning a cluster may default: everything but the network list, which is per VM or Namespace. */
export type ClusterTuningKey = Exclude<TuningKey, 'networks'>;
export const CLUSTER_TUNING_KEYS = TUNING_KEYS.filter((key): key is ClusterTuningKey => key !== 'networks');

export interface WebhookConfig {
  /** The KubeVirt network binding plugin interfaces are switched to. */
  pluginName: string;
  /** The device-plugin resource whose networks get VDUSE when no networks annotation says otherwise. */
  resourceName: string;
  defaultTuning: Partial<Pick<Tuning, ClusterTuningKey>>;
  /** Namespaces never mutated, whatever their labels. */
  excludedNamespaces: readonly string[];
  /** When a Namespace or NetworkAttachmentDefinition cannot be read: deny the VM, or admit it unchanged. */
  onLookupFailure: LookupFailurePolicy;
  /** Whether the cluster's pod network is VDUSE-backed; a Namespace's vduse.kubevirt.io/pod-network overrides it. */
  podNetwork: PodNetworkKind;
}

/** OpenShift's system Namespaces, never mutated whatever the config says (the webhook configuration's matchConditions agree). */
export const SYSTEM_NAMESPACE_PREFIX = 'openshift-';

export const DEFAULT_CONFIG: WebhookConfig = Object.freeze({
  pluginName: DEFAULT_BINDING_PLUGIN_NAME,
  resourceName: DEFAULT_VDUSE_RESOURCE_NAME,
  defaultTuning: {},
  excludedNamespaces: ['kube-system', 'vduse-system', 'kubevirt', 'openshift-cnv'],
  onLookupFailure: 'deny',
  podNetwork: 'default',
});

/** The config file's keys, as documented in webhook/README.md. */
const FILE_KEYS = ['pluginName', 'resourceName', 'defaultTuning', 'excludedNamespaces', 'onLookupFailure', 'podNetwork'] as const;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** An extended resource name: an optional DNS-subdomain prefix and a name, as in vduse.io/vduse. */
const RESOURCE_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** Parses the config file's text; throws InvalidInputError naming the file, the field and the value. */
export function parseWebhookConfig(text: string, source: string): WebhookConfig {
  const document = parseDocument(text, { uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new InvalidInputError(source, 'YAML', document.errors[0]!.message.split('\n')[0], 'a YAML mapping');
  }
  const raw: unknown = document.toJS() ?? {};
  if (!isObject(raw)) throw new InvalidInputError(source, '(document)', raw, 'a mapping of config keys');
  for (const key of Object.keys(raw)) {
    if (!(FILE_KEYS as readonly string[]).includes(key)) throw new InvalidInputError(source, key, 'an unknown key', `one of ${FILE_KEYS.join(', ')}`);
  }
  const config: WebhookConfig = { ...DEFAULT_CONFIG, defaultTuning: {} };

  const stringField = (key: 'pluginName' | 'resourceName', pattern: RegExp, expected: string) => {
    const value = raw[key];
    if (value === undefined) return;
    if (typeof value !== 'string' || !pattern.test(value)) throw new InvalidInputError(source, key, value, expected);
    config[key] = value;
  };
  stringField('pluginName', DNS_LABEL, 'a DNS label (lower-case letters, digits and "-"), the name the plugin is registered under in the KubeVirt CR');
  stringField('resourceName', RESOURCE_NAME, 'an extended resource name such as vduse.io/vduse');

  if (raw.excludedNamespaces !== undefined) {
    const list = raw.excludedNamespaces;
    if (!Array.isArray(list) || !list.every((name): name is string => typeof name === 'string' && DNS_LABEL.test(name))) {
      throw new InvalidInputError(source, 'excludedNamespaces', list, 'a list of Namespace names');
    }
    config.excludedNamespaces = list;
  }

  if (raw.onLookupFailure !== undefined) {
    const policy = raw.onLookupFailure;
    if (!LOOKUP_FAILURE_POLICIES.includes(policy as LookupFailurePolicy)) {
      throw new InvalidInputError(source, 'onLookupFailure', policy, `one of ${LOOKUP_FAILURE_POLICIES.join(', ')}`);
    }
    config.onLookupFailure = policy as LookupFailurePolicy;
  }

  if (raw.podNetwork !== undefined) {
    if (!POD_NETWORK_VALUES.includes(raw.podNetwork as PodNetworkKind)) {
      throw new InvalidInputError(source, 'podNetwork', raw.podNetwork, `one of ${POD_NETWORK_VALUES.join(', ')} ("vduse" when the primary CNI publishes VDUSE device-info for the pod network)`);
    }
    config.podNetwork = raw.podNetwork as PodNetworkKind;
  }

  if (raw.defaultTuning !== undefined) {
    const tuning = raw.defaultTuning;
    if (!isObject(tuning)) throw new InvalidInputError(source, 'defaultTuning', tuning, 'a mapping of annotation names to values');
    const byAnnotation = new Map(CLUSTER_TUNING_KEYS.map((key) => [TUNING_SCHEMA[key].annotation, key]));
    for (const [annotation, value] of Object.entries(tuning)) {
      const key = byAnnotation.get(annotation);
      if (key === undefined) {
        throw new InvalidInputError(source, `defaultTuning.${annotation}`, 'an unknown annotation', `one of ${[...byAnnotation.keys()].join(', ')}`);
      }
      if (typeof value !== 'string' && typeof value !== 'number') {
        throw new InvalidInputError(source, `defaultTuning.${annotation}`, value, TUNING_SCHEMA[key].expected);
      }
      (config.defaultTuning as Record<string, unknown>)[key] = parseTuningValue(key, String(value), `${source}: defaultTuning`);
    }
  }
  return config;
}
