// The admission decision for one VirtualMachine or bare VirtualMachineInstance: pure, given what
// the cluster said about its Namespace and NetworkAttachmentDefinitions. The mutation is made on
// a deep clone and the patch is the difference, checked against the webhook's scope.
import jsonpatch, { type Operation } from 'fast-json-patch';
import { isCoalesceOff } from '../api/coalesce.ts';
import { describeObject, InvalidInputError } from '../api/errors.ts';
import { isObject, stringMapField } from '../api/json.ts';
import { type Interface, KUBEVIRT_API_VERSION, type Memory, type Network, parseVmiObject, type VirtualMachineInstance } from '../api/kubevirt.ts';
import { KEY_PLACES, type KeyPlace, keyWarnings } from '../api/keys.ts';
import {
  ANNOTATION_MAX_GUEST,
  ANNOTATION_MEMLOCK_OVERHEAD,
  ANNOTATION_NETWORKS,
  ANNOTATION_POD_NETWORK,
  cloudInitBindingName,
  DEFAULT_POD_NETWORK_NAME,
  DEFAULTED_MEMLOCK,
  KEY_PREFIX,
  LABEL_VM_ENABLED,
  pluginBindingNames,
  POD_NETWORK_VALUES,
} from '../api/names.ts';
import { type ResolvedTuning, resolveTuning } from '../api/resolve.ts';
import { formatTuningValue, parseTuningAnnotations, type Tuning, TUNING_SCHEMA } from '../api/tuning.ts';
import { CLUSTER_TUNING_KEYS, SYSTEM_NAMESPACE_PREFIX, type WebhookConfig } from './config.ts';
import { chooseNetworks, convertInterface, referencedNads } from './interface-choice.ts';
import type { Lookup, NadFacts, NamespaceFacts } from './lookup.ts';
import { instancetypeFacts, type InstancetypeFacts, type MatcherKind, type MatcherReference, matcherReference, preferenceFacts } from './instancetypes.ts';
import { DEFAULT_MEMORY_HOTPLUG, type KubevirtFacts, type MemoryHotplugSettings, readinessProblems, sidecarsAreLimited } from '../cluster/kubevirt-readiness.ts';
import { memlockWarnings, planMemlock } from './memlock.ts';
import { planMemoryHotplug } from './memory-hotplug.ts';
import { defaultedNames, hasWebhookAdditions, recordDefaulted, usersTemplateAnnotations, withoutWebhookAdditions } from './ownership.ts';
import { decideOptIn } from './opt-in.ts';
import { assertPatchInScope } from './patch-scope.ts';
import { limitWarning } from './warnings.ts';

export const MUTATED_KINDS = ['VirtualMachine', 'VirtualMachineInstance'] as const;
export type MutatedKind = (typeof MUTATED_KINDS)[number];

export interface AdmissionSubject {
  kind: MutatedKind;
  operation: string;
  /** The request's namespace, which is the object's. */
  namespace: string;
  object: unknown;
  /** What is stored now, on an UPDATE. */
  oldObject?: unknown;
}

export interface ClusterFacts {
  namespace: Lookup<NamespaceFacts>;
  /** By "namespace/name". */
  nads: ReadonlyMap<string, Lookup<NadFacts>>;
  /** The instancetype and preference a VM names, as read (the object, or a ControllerRevision holding it). */
  matchers?: Partial<Record<MatcherKind, Lookup<unknown>>>;
  /** The cluster's KubeVirt CR; undefined when nobody read it. */
  kubevirt?: Lookup<KubevirtFacts>;
}

export type Outcome = 'mutated' | 'unchanged' | 'skipped' | 'denied';

export interface Decision {
  allowed: boolean;
  outcome: Outcome;
  /** Why, in one line: the denial message, or what was done. */
  reason: string;
  patch: Operation[];
  warnings: string[];
  /** The VMI networks now bound to the plugin. */
  interfaces: string[];
}

/** Admitted unchanged, and why. */
export const skipDecision = (reason: string): Decision => ({ allowed: true, outcome: 'skipped', reason, patch: [], warnings: [], interfaces: [] });
/** Denied, with the message the user sees. */
export const denyDecision = (reason: string): Decision => ({ allowed: false, outcome: 'denied', reason, patch: [], warnings: [], interfaces: [] });

/** The VMI spec the mutation works on: a VM's template, or a bare VMI itself. */
interface Target {
  subject: string;
  /** JSON pointer of the template ("" for a VMI), and its dotted form for messages. */
  pointer: string;
  path: string;
  vmi: VirtualMachineInstance;
  /** The VM's own labels (a VMI's own), where the opt-in label is read. */
  labels: Record<string, string>;
  /** The VM's own annotations over the template's; a VMI's own. */
  annotations: Record<string, string>;
  /** Where the keys under our prefix were found, as written: for the keys stage. */
  keySources: [KeyPlace, Readonly<Record<string, string>>][];
  /** The whole object under review, for the patch scope check. */
  original: Record<string, unknown>;
}

function targetOf(subject: AdmissionSubject, object: Record<string, unknown>): Target {
  const metadata = isObject(object.metadata) ? object.metadata : {};
  const name = describeObject(subject.kind, { namespace: subject.namespace, name: typeof metadata.name === 'string' ? metadata.name : undefined });
  if (object.apiVersion !== KUBEVIRT_API_VERSION || object.kind !== subject.kind) {
    throw new InvalidInputError(name, 'apiVersion/kind', `${String(object.apiVersion)}/${String(object.kind)}`, `${KUBEVIRT_API_VERSION}/${subject.kind}, as the request says`);
  }
  const stringMap = (value: unknown, field: string): Record<string, string> => stringMapField(value, name, field);
  if (subject.kind === 'VirtualMachineInstance') {
    const vmi = parseVmiObject(object, name);
    const [labels, annotations] = [stringMap(metadata.labels, 'metadata.labels'), stringMap(metadata.annotations, 'metadata.annotations')];
    return { subject: name, pointer: '', path: '', vmi, labels, annotations, keySources: [[KEY_PLACES.vmLabels, labels], [KEY_PLACES.vmiAnnotations, annotations]], original: object };
  }
  const spec = object.spec;
  if (!isObject(spec) || !isObject(spec.template)) throw new InvalidInputError(name, 'spec.template', isObject(spec) ? spec.template : spec, 'an object');
  const template = spec.template;
  const templateMetadata = template.metadata;
  if (templateMetadata !== undefined && !isObject(templateMetadata)) throw new InvalidInputError(name, 'spec.template.metadata', templateMetadata, 'an object');
  const vmi = parseVmiObject({ metadata: templateMetadata, spec: template.spec }, `${name} spec.template`);
  const [labels, annotations] = [stringMap(metadata.labels, 'metadata.labels'), stringMap(metadata.annotations, 'metadata.annotations')];
  const [templateLabels, templateAnnotations] = [stringMap(templateMetadata?.labels, 'spec.template.metadata.labels'), stringMap(templateMetadata?.annotations, 'spec.template.metadata.annotations')];
  return {
    original: object,
    subject: name,
    pointer: '/spec/template',
    path: 'spec.template.',
    vmi,
    // Opt-in and opt-out labels are the VM's own: the opt-in webhook's objectSelector sees only
    // those (deploy/base/mutating-webhook.yaml), and offline `mutate` must decide the same.
    labels,
    // The VM's own annotations win over its template's, where the webhook's defaulted values are not the user's.
    annotations: { ...usersTemplateAnnotations(templateAnnotations), ...annotations },
    keySources: [
      [KEY_PLACES.vmLabels, labels],
      [KEY_PLACES.vmAnnotations, annotations],
      [KEY_PLACES.templateLabels, templateLabels],
      [KEY_PLACES.templateAnnotations, templateAnnotations],
    ],
  };
}

const ownedByVirtualMachine = (metadata: unknown): boolean =>
  isObject(metadata) &&
  Array.isArray(metadata.ownerReferences) &&
  metadata.ownerReferences.some((owner) => isObject(owner) && owner.kind === 'VirtualMachine' && String(owner.apiVersion).startsWith('kubevirt.io/'));

/** The instancetype and preference a VirtualMachine names, for the I/O layer to read. */
export function matchersFor(subject: AdmissionSubject): MatcherReference[] {
  const object = subject.object;
  if (subject.kind !== 'VirtualMachine' || !isObject(object)) return [];
  return (['instancetype', 'preference'] as const).flatMap((kind) => {
    const result = matcherReference(kind, object.spec, subject.namespace);
    return 'reference' in result ? [result.reference] : [];
  });
}

/** The Namespace and NetworkAttachmentDefinitions a decision on this object reads. */
export function lookupsFor(subject: AdmissionSubject): { namespace: string; nads: string[] } {
  const object = subject.object;
  const template = isObject(object) && isObject(object.spec) && subject.kind === 'VirtualMachine' ? object.spec.template : object;
  const spec = isObject(template) ? template.spec : undefined;
  // Before any validation: only well-formed Multus references are looked up; the decision refuses the rest.
  const networks = isObject(spec) && Array.isArray(spec.networks) ? spec.networks.filter((network) => isObject(network) && isObject(network.multus) && typeof network.multus.networkName === 'string') : [];
  return { namespace: subject.namespace, nads: referencedNads(networks as { name: string; multus: { networkName: string } }[], subject.namespace) };
}

/** The operations that turn `before` into `after` at a JSON pointer; an "add" when nothing was there. */
function diff(pointer: string, before: object | undefined, after: object): Operation[] {
  if (before === undefined) return [{ op: 'add', path: pointer, value: after }];
  return jsonpatch.compare(before, after).map((operation) => ({ ...operation, path: `${pointer}${operation.path}` }));
}

function hasCloudInit(vmi: VirtualMachineInstance): boolean {
  return (vmi.spec.volumes ?? []).some((volume) => volume.cloudInitNoCloud !== undefined || volume.cloudInitConfigDrive !== undefined);
}

/**
 * No VDUSE interface (any more): admitted, and when the template still carries what the webhook
 * added, that is removed. Interfaces still bound to the plugin by hand keep it all.
 */
function removalOrSkip(target: Target, because: string, config: WebhookConfig): Decision {
  const templateAnnotations = target.vmi.metadata?.annotations;
  const ourBindings = new Set(pluginBindingNames(config.pluginName));
  const handBound = (target.vmi.spec.domain.devices.interfaces ?? []).filter((iface) => iface.binding !== undefined && ourBindings.has(iface.binding.name));
  const refused = handBindingProblem(target, handBound, config);
  if (refused !== undefined) return denyDecision(refused);
  if (handBound.length > 0 || !hasWebhookAdditions(templateAnnotations)) return skipDecision(because);
  const memory = target.vmi.spec.domain.memory;
  const rest = withoutWebhookAdditions(target.subject, `${target.path}spec.domain`, templateAnnotations ?? {}, memory);
  const memoryPatch: Operation[] =
    rest.memory === undefined ? (memory === undefined ? [] : [{ op: 'remove', path: `${target.pointer}/spec/domain/memory` }]) : diff(`${target.pointer}/spec/domain/memory`, memory, rest.memory);
  const patch = [...diff(`${target.pointer}/metadata/annotations`, templateAnnotations, rest.annotations), ...memoryPatch];
  assertPatchInScope(patch, [`${target.pointer}/metadata/annotations`, `${target.pointer}/spec/domain/memory`], target.original);
  return { allowed: true, outcome: 'mutated', reason: `removed the webhook's memlock overhead and tuning: no VDUSE interface is left (${because})`, patch, warnings: [], interfaces: [] };
}

/**
 * Interfaces bound by hand on a VM the webhook does not convert are left as written, unless that
 * cannot run: both bindings in one VMI (two sidecars of this image, which KubeVirt may number
 * differently on a migration's target), or the cloud-init binding without cloud-init (its sidecar
 * subscribes to PreCloudInitIso, and virt-launcher fails such a VMI: api/names.ts).
 */
function handBindingProblem(target: Target, handBound: readonly Interface[], config: WebhookConfig): string | undefined {
  const [plain, cloudInit] = pluginBindingNames(config.pluginName);
  const on = (binding: string) => handBound.filter((iface) => iface.binding?.name === binding).map((iface) => iface.name);
  const interfacesPath = `${target.path}spec.domain.devices.interfaces`;
  if (on(plain).length > 0 && on(cloudInit).length > 0) {
    return `${target.subject}: ${interfacesPath}: interfaces ${on(plain).join(', ')} use binding ${plain} and ${on(cloudInit).join(', ')} use binding ${cloudInit}; one VMI may use only one of the two (each brings its own sidecar): bind them all to ${plain}`;
  }
  if (on(cloudInit).length > 0 && !hasCloudInit(target.vmi)) {
    return `${target.subject}: ${interfacesPath}: interfaces ${on(cloudInit).join(', ')} use binding ${cloudInit}, whose sidecar needs a cloudInitNoCloud or cloudInitConfigDrive volume, which this VM lacks (virt-launcher would fail the VMI); bind them to ${plain}`;
  }
  return undefined;
}

/**
 * KubeVirt names binding sidecars hook-sidecar-N in the order of a Go map (pkg/network/netbinding),
 * so with two or more binding plugins that have sidecars, a migration's target pod may number ours
 * differently from the source, and the domain the target runs (the source's) names the source's
 * container in its device paths. The VM runs; such a migration fails and the VM stays on the source.
 */
function bindingSidecarsWarning(interfaces: readonly Interface[], kubevirt: KubevirtFacts): string | undefined {
  const withSidecars = [...new Set(interfaces.flatMap((iface) => (iface.binding && kubevirt.bindings[iface.binding.name]?.sidecarImage ? [iface.binding.name] : [])))];
  if (withSidecars.length < 2) return undefined;
  // Warnings are cut at 120 characters (warnings.ts): the why is in docs/migration.md.
  return `vduse: live migration may fail: ${withSidecars.length} binding plugins with sidecars (${withSidecars.join(', ')}); see docs/migration.md`;
}

interface Matched {
  instancetype: InstancetypeFacts | undefined;
  preferredAutoattachPodInterface: boolean | undefined;
  warnings: string[];
  /** Why the memlock overhead cannot be sized yet, when an instancetype is why. */
  unsizedBecause: string | undefined;
}

/** The instancetype and preference facts, or a denial that names what is wrong and the fix. */
function readMatchers(subject: AdmissionSubject, target: Target, facts: ClusterFacts, config: WebhookConfig): Matched | { denied: string } {
  const name = target.subject;
  const matched: Matched = { instancetype: undefined, preferredAutoattachPodInterface: undefined, warnings: [], unsizedBecause: undefined };
  if (subject.kind !== 'VirtualMachine' || !isObject(subject.object)) return matched;
  for (const kind of ['instancetype', 'preference'] as const) {
    const result = matcherReference(kind, subject.object.spec, subject.namespace);
    if ('none' in result) continue;
    if ('invalid' in result) return { denied: `${name}: ${result.invalid}` };
    if ('inferred' in result) {
      // KubeVirt's own mutating webhook fills in the name; with reinvocationPolicy IfNeeded this webhook runs again after it.
      if (kind === 'instancetype') matched.unsizedBecause = `vduse: memlock overhead not sized yet: the instancetype is still to be inferred from volume ${result.inferred}`;
      continue;
    }
    const { reference } = result;
    const lookup = facts.matchers?.[kind] ?? { state: 'failed' as const, reason: 'not looked up' };
    if (lookup.state === 'absent') {
      return { denied: `${name}: ${reference.field} names ${reference.described}, which does not exist; create it, or fix ${reference.field}` };
    }
    if (lookup.state === 'failed') {
      if (config.onLookupFailure === 'deny') {
        return { denied: `${name}: cannot read ${reference.described} from ${reference.field} (${lookup.reason}); the webhook config says onLookupFailure: deny, so retry shortly` };
      }
      matched.warnings.push(limitWarning(`vduse: cannot read ${reference.described}; ${kind === 'instancetype' ? 'memlock overhead not sized' : 'its preferences not applied'}`));
      if (kind === 'instancetype') matched.unsizedBecause = `vduse: memlock overhead not sized: ${reference.described} could not be read`;
      continue;
    }
    if (kind === 'instancetype') {
      matched.instancetype = instancetypeFacts(lookup.value);
      // KubeVirt refuses guest memory on both (pkg/instancetype/apply/memory.go validateMemory).
      if (matched.instancetype.memory.guest !== undefined && target.vmi.spec.domain.memory?.guest !== undefined) {
        return {
          denied: `${name}: spec.template.spec.domain.memory.guest is set, and ${reference.described} supplies the guest memory, which KubeVirt refuses; remove spec.template.spec.domain.memory.guest`,
        };
      }
    } else matched.preferredAutoattachPodInterface = preferenceFacts(lookup.value).preferredAutoattachPodInterface;
  }
  return matched;
}

export function decideAdmission(subject: AdmissionSubject, facts: ClusterFacts, config: WebhookConfig): Decision {
  try {
    return decide(subject, facts, config);
  } catch (error) {
    if (error instanceof InvalidInputError) return denyDecision(error.message);
    throw error;
  }
}

/** A stage either hands its result to the next, or stops with the decision. */
type Stage<T> = T | { stop: Decision };
const stops = <T extends object>(result: Stage<T>): result is { stop: Decision } => 'stop' in result;

/** What every stage after the opt-in reads, and the warnings they add to. */
interface Admission {
  target: Target;
  /** On an UPDATE, the VM as stored now. */
  stored: Stored | undefined;
  /** The object's Namespace, by name, and what was read of it (undefined: unreadable, and the config says go on). */
  namespaceName: string;
  namespace: NamespaceFacts | undefined;
  facts: ClusterFacts;
  config: WebhookConfig;
  matched: Matched;
  warnings: string[];
}

/** The decision, stage by stage; each stage's comment says what it decides. */
function decide(subject: AdmissionSubject, facts: ClusterFacts, config: WebhookConfig): Decision {
  const gate = gateStage(subject, config);
  if (stops(gate)) return gate.stop;
  const target = targetOf(subject, gate.object);
  const namespace = namespaceStage(target, subject.namespace, facts, config);
  if (stops(namespace)) return namespace.stop;
  const warnings = keysStage(target, namespace.facts);
  // Whatever the decision, the warnings so far go with it, a denial's included.
  const withWarnings = (decision: Decision): Decision => ({ ...decision, warnings: [...warnings, ...decision.warnings] });
  const optIn = decideOptIn(target.subject, subject.namespace, target.labels, namespace.facts);
  if ('denied' in optIn) return withWarnings(denyDecision(optIn.denied));
  if (!optIn.wanted) return withWarnings(removalOrSkip(target, optIn.because, config));
  const matched = readMatchers(subject, target, facts, config);
  if ('denied' in matched) return withWarnings(denyDecision(matched.denied));
  warnings.push(...matched.warnings);
  const admission: Admission = { target, stored: storedOf(subject), namespaceName: subject.namespace, namespace: namespace.facts, facts, config, matched, warnings };

  const resolved = tuningStage(admission);
  const networks = networksStage(admission, resolved);
  if (stops(networks)) return withWarnings(networks.stop);
  const conversion = conversionStage(admission, networks, resolved);
  if (stops(conversion)) return withWarnings(conversion.stop);
  if (conversion.bound.length === 0) return withWarnings(nothingToConvertStage(admission, optIn, networks));
  const kubevirt = readinessStage(admission, conversion);
  if (stops(kubevirt)) return withWarnings(kubevirt.stop);
  const annotations = annotationsStage(admission, resolved);
  const memory = memoryStage(admission, conversion, kubevirt.hotplug, resolved.tuning, annotations);
  addConversionWarnings(admission, networks, conversion, resolved.tuning);
  return withWarnings(patchStage(admission, networks, conversion, annotations, memory, optIn.because));
}

/** Gate: what the webhook never mutates (deletions, other operations, VM-owned or updated VMIs, excluded Namespaces). */
function gateStage(subject: AdmissionSubject, config: WebhookConfig): Stage<{ object: Record<string, unknown> }> {
  if (!isObject(subject.object)) throw new InvalidInputError(`${subject.kind} in ${subject.namespace}`, 'object', subject.object, 'an object');
  const metadata = subject.object.metadata;
  const skip = (reason: string) => ({ stop: skipDecision(reason) });
  if (isObject(metadata) && metadata.deletionTimestamp) return skip('being deleted');
  if (subject.operation !== 'CREATE' && subject.operation !== 'UPDATE') return skip(`operation ${subject.operation}`);
  if (subject.kind === 'VirtualMachineInstance' && ownedByVirtualMachine(metadata)) {
    return skip('a VirtualMachineInstance that a VirtualMachine owns is mutated through its VirtualMachine');
  }
  if (subject.kind === 'VirtualMachineInstance' && subject.operation !== 'CREATE') {
    return skip(`an ${subject.operation} of a VirtualMachineInstance that no VirtualMachine owns: its spec is fixed once created, so VDUSE is decided only at CREATE`);
  }
  if (config.excludedNamespaces.includes(subject.namespace)) return skip(`Namespace ${subject.namespace} is excluded in the webhook config`);
  if (subject.namespace.startsWith(SYSTEM_NAMESPACE_PREFIX)) return skip(`Namespace ${subject.namespace} is an OpenShift system Namespace`);
  return { object: subject.object };
}

/** Namespace: its labels and annotations, or a denial when it cannot be read and the config says so. */
function namespaceStage(target: Target, name: string, facts: ClusterFacts, config: WebhookConfig): Stage<{ facts: NamespaceFacts | undefined }> {
  if (facts.namespace.state === 'found') return { facts: facts.namespace.value };
  const reason = facts.namespace.state === 'failed' ? facts.namespace.reason : 'not found';
  if (config.onLookupFailure === 'deny') {
    return { stop: denyDecision(`${target.subject}: cannot read Namespace ${name} to apply its VDUSE policy (${reason}); the webhook config says onLookupFailure: deny, so retry shortly`) };
  }
  return { facts: undefined };
}

/**
 * Keys: a label or annotation under our prefix that nothing reads (a misspelling, named with the
 * nearest key), or that is read elsewhere, on the VM, its template and its Namespace. Without a
 * word it would change nothing, and stay on the VM.
 */
function keysStage(target: Target, namespace: NamespaceFacts | undefined): string[] {
  const sources: (readonly [KeyPlace, Readonly<Record<string, string>>])[] = [...target.keySources];
  if (namespace) sources.push([KEY_PLACES.namespaceLabels, namespace.labels], [KEY_PLACES.namespaceAnnotations, namespace.annotations]);
  return sources.flatMap(([place, map]) => keyWarnings(place, Object.keys(map))).map(limitWarning);
}

/** What the stored VM says, on an UPDATE: the template's bindings and annotations, and whether a VMI runs from it. */
interface Stored {
  /** Interface name to binding name. */
  bindings: ReadonlyMap<string, string>;
  annotations: Readonly<Record<string, string>>;
  /** A VMI exists (status.created), made from the template as it was at its start. */
  running: boolean;
}

/** Read loosely: the stored object passed this webhook and virt-api when it was written. */
function storedOf(subject: AdmissionSubject): Stored | undefined {
  const old = subject.oldObject;
  if (subject.operation !== 'UPDATE' || subject.kind !== 'VirtualMachine' || !isObject(old) || !isObject(old.spec) || !isObject(old.spec.template)) return undefined;
  const template = old.spec.template;
  const metadata = isObject(template.metadata) ? template.metadata : {};
  const annotations = isObject(metadata.annotations) ? (metadata.annotations as Record<string, string>) : {};
  const devices = isObject(template.spec) && isObject(template.spec.domain) && isObject(template.spec.domain.devices) ? template.spec.domain.devices : {};
  const interfaces = Array.isArray(devices.interfaces) ? devices.interfaces.filter(isObject) : [];
  const bindings = new Map(interfaces.flatMap((iface) => (typeof iface.name === 'string' && isObject(iface.binding) && typeof iface.binding.name === 'string' ? [[iface.name, iface.binding.name] as const] : [])));
  return { bindings, annotations, running: isObject(old.status) && old.status.created === true };
}

/** Tuning: the VM's annotations over the Namespace's over the config's over the built-in defaults. */
function tuningStage({ target, namespace, namespaceName, config }: Admission): ResolvedTuning {
  const vmLayer = parseTuningAnnotations(target.annotations, target.subject);
  const namespaceLayer = namespace ? parseTuningAnnotations(namespace.annotations, `Namespace ${namespaceName}`) : {};
  return resolveTuning({ cluster: config.defaultTuning, namespace: namespaceLayer, vm: vmLayer });
}

interface ChosenNetworks {
  /** The VMI's networks, with KubeVirt's default pod network when the webhook adds it. */
  networks: Network[];
  /** The pod network is added as KubeVirt would, on our binding. */
  defaultsPodNetwork: boolean;
  /** The VM has a pod network, or KubeVirt will give it one. */
  hasPodNetwork: boolean;
  chosen: readonly string[];
}

/** Networks: which of the VMI's networks are VDUSE, KubeVirt's default pod network included. */
function networksStage({ target, namespace, namespaceName: name, matched, facts, config, warnings }: Admission, { tuning, sources }: ResolvedTuning): Stage<ChosenNetworks> {
  const podNetworkAnnotation = namespace?.annotations[ANNOTATION_POD_NETWORK];
  if (podNetworkAnnotation !== undefined && !(POD_NETWORK_VALUES as readonly string[]).includes(podNetworkAnnotation)) {
    return { stop: denyDecision(`Namespace ${name}: annotation ${ANNOTATION_POD_NETWORK}: got ${JSON.stringify(podNetworkAnnotation)}; expected one of ${POD_NETWORK_VALUES.join(', ')} (ask the namespace's administrator)`) };
  }
  const podNetworkIsVduse = (podNetworkAnnotation ?? config.podNetwork) === 'vduse';
  const spec = target.vmi.spec;
  // What KubeVirt would default (pkg/network/vmispec/defaults.go SetDefaultNetworkInterface), with
  // the vduse binding in place of masquerade: only with neither networks nor interfaces, and
  // unless autoattachPodInterface (or a preference's preferredAutoattachPodInterface) is false.
  const autoattach = spec.domain.devices.autoattachPodInterface ?? matched.preferredAutoattachPodInterface;
  const kubevirtAddsPodNetwork = (spec.networks ?? []).length === 0 && (spec.domain.devices.interfaces ?? []).length === 0 && autoattach !== false;
  const defaultsPodNetwork = kubevirtAddsPodNetwork && (podNetworkIsVduse || (tuning.networks ?? []).includes(DEFAULT_POD_NETWORK_NAME));
  const networks: Network[] = defaultsPodNetwork ? [{ name: DEFAULT_POD_NETWORK_NAME, pod: {} }] : (spec.networks ?? []);

  const choice = chooseNetworks({
    subject: target.subject,
    networksPath: `${target.path}spec.networks`,
    objectNamespace: name,
    networks,
    named: tuning.networks,
    namedBy: sources.networks === 'vm' ? 'vm' : 'namespace',
    podNetworkIsVduse: podNetworkIsVduse || defaultsPodNetwork,
    resourceName: config.resourceName,
    nads: facts.nads,
  });
  if ('denied' in choice) return { stop: denyDecision(choice.denied) };
  if (choice.unreadable.length > 0) {
    const detail = choice.unreadable.map(({ network, reason }) => `${network} (${reason})`).join(', ');
    if (config.onLookupFailure === 'deny') {
      return { stop: denyDecision(`${target.subject}: cannot read the NetworkAttachmentDefinition of network(s) ${detail}; the webhook config says onLookupFailure: deny, so retry shortly`) };
    }
    warnings.push(limitWarning(`vduse: left unconverted, NetworkAttachmentDefinition unreadable: ${choice.unreadable.map(({ network }) => network).join(', ')}`));
  }
  // A VM applied before its network (a GitOps folder, in any order) would otherwise stay
  // unconverted without a word until its next update; one already on the binding keeps it.
  const ourBindings = new Set(pluginBindingNames(config.pluginName));
  const bound = new Set((spec.domain.devices.interfaces ?? []).filter((iface) => iface.binding !== undefined && ourBindings.has(iface.binding.name)).map((iface) => iface.name));
  for (const { network, nad } of choice.missing.filter(({ network }) => !bound.has(network))) {
    warnings.push(limitWarning(`vduse: network ${network} left unconverted: no NetworkAttachmentDefinition ${nad}`));
  }
  const hasPodNetwork = kubevirtAddsPodNetwork || networks.some((network) => network.pod !== undefined);
  return { networks, defaultsPodNetwork, hasPodNetwork, chosen: choice.chosen };
}

interface Conversion {
  /** The VMI's interfaces as they will be. */
  interfaces: Interface[];
  /** The binding this VM's interfaces get: the cloud-init one only when it delivers coalescing. */
  bindingName: string;
  /** Interfaces the webhook moved onto the binding now, that the stored VM did not have on it. */
  converted: string[];
  /** Every interface on the binding. */
  bound: string[];
  /** The JSON pointers the patch may touch so far. */
  scope: string[];
}

/**
 * Conversion: the chosen interfaces (and those bound by hand) onto the binding, with model virtio.
 * Only an interface that was not on the binding before counts as converted: re-applying a VM
 * sends its interfaces as written (kubectl's three-way merge replaces the list), not as stored.
 */
function conversionStage({ target, stored, config }: Admission, chosenNetworks: ChosenNetworks, { tuning, sources }: ResolvedTuning): Stage<Conversion> {
  const { defaultsPodNetwork } = chosenNetworks;
  const spec = target.vmi.spec;
  const interfacesPath = `${target.path}spec.domain.devices.interfaces`;
  const interfaces: Interface[] = defaultsPodNetwork ? [{ name: DEFAULT_POD_NETWORK_NAME }] : [...(spec.domain.devices.interfaces ?? [])];
  const scope: string[] = defaultsPodNetwork ? [`${target.pointer}/spec/networks`, `${target.pointer}/spec/domain/devices/interfaces`] : [];
  const converted: string[] = [];
  // The cloud-init binding's sidecar subscribes to PreCloudInitIso, which crashes virt-launcher on a
  // VMI without cloud-init (api/names.ts); it is chosen again on every admission.
  const deliversCoalescing = !isCoalesceOff(tuning.coalesce) && hasCloudInit(target.vmi);
  const bindingName = deliversCoalescing ? cloudInitBindingName(config.pluginName) : config.pluginName;
  const ourBindings = new Set(pluginBindingNames(config.pluginName));
  const chosen = new Set(chosenNetworks.chosen);
  for (const network of chosenNetworks.chosen) {
    if (!interfaces.some((iface) => iface.name === network)) {
      return { stop: denyDecision(`${target.subject}: network ${JSON.stringify(network)} has no interface in ${interfacesPath}; add one with the same name`) };
    }
  }
  const vm = target.pointer === '' ? 'VMI' : 'VM';
  // What else keeps an interface off VDUSE, for a model VDUSE cannot take.
  const keepOff = (iface: Interface): string => {
    if (!chosen.has(iface.name)) return `remove its binding ${iface.binding!.name}`;
    if (sources.networks === 'vm') return `take the interface out of ${ANNOTATION_NETWORKS}`;
    const others = chosenNetworks.chosen.filter((network) => network !== iface.name);
    const none = `label the ${vm} ${LABEL_VM_ENABLED}: "false" to convert none of its interfaces`;
    return others.length === 0 ? none : `annotate the ${vm} ${ANNOTATION_NETWORKS}: "${others.join(',')}" to convert only those, or ${none}`;
  };
  for (const [index, iface] of interfaces.entries()) {
    const ours = iface.binding !== undefined && ourBindings.has(iface.binding.name);
    // Interfaces bound by hand to either binding are re-chosen too, so no VM keeps the cloud-init one without cloud-init.
    if (!chosen.has(iface.name) && !ours) continue;
    const rebound = iface.binding?.name !== bindingName;
    if (!rebound && iface.model === 'virtio') continue;
    // Already on the binding but without a model (written by hand): model virtio still goes in.
    const result = convertInterface(iface, bindingName, target.subject, `${interfacesPath}[${index}]`, keepOff(iface));
    if ('denied' in result) return { stop: denyDecision(result.denied) };
    interfaces[index] = result;
    if (rebound && stored?.bindings.get(iface.name) !== bindingName) converted.push(iface.name);
    scope.push(`${target.pointer}/spec/domain/devices/interfaces/${index}`);
  }
  const bound = interfaces.filter((iface) => iface.binding?.name === bindingName).map((iface) => iface.name);
  return { interfaces, bindingName, converted, bound, scope };
}

/**
 * Nothing to convert: a wanted VM none of whose networks is VDUSE is admitted as it is (or with
 * what the webhook once added taken away), and says so: `virtctl create vm` in a policy=enabled
 * Namespace has only the pod network, which is VDUSE only where the Namespace declares it.
 */
function nothingToConvertStage({ target, config, warnings }: Admission, optIn: { because: string; by: string }, networks: ChosenNetworks): Decision {
  const decision = removalOrSkip(target, `wanted (${optIn.because}), but no interface is on a VDUSE network`, config);
  if (decision.outcome === 'skipped') {
    const hint = networks.hasPodNetwork ? ` (see ${ANNOTATION_POD_NETWORK})` : '';
    warnings.push(limitWarning(`vduse: skipped: wanted (${optIn.by}), but no interface is on a VDUSE network${hint}`));
  }
  return decision;
}

/**
 * Readiness: KubeVirt must be able to run what this admits; otherwise the user meets errors about
 * fields they never wrote (virt-api's feature-gate denial), or a VMI that never gets a pod. A
 * failed lookup's reason says what happened, as "unreadable (...)" or "not given (...)".
 */
function readinessStage({ target, matched, facts, warnings }: Admission, conversion: Conversion): Stage<{ hotplug: MemoryHotplugSettings }> {
  const kubevirt = facts.kubevirt ?? { state: 'failed' as const, reason: 'unreadable (not read)' };
  if (kubevirt.state !== 'found') {
    warnings.push(limitWarning(`vduse: KubeVirt CR ${kubevirt.state === 'absent' ? 'not found' : kubevirt.reason}: binding, feature gate and sidecar memory unchecked`));
    return { hotplug: DEFAULT_MEMORY_HOTPLUG };
  }
  const sidecarsLimited = sidecarsAreLimited(target.vmi.spec, matched.instancetype?.dedicatedCPUPlacement ?? false);
  const problems = readinessProblems(kubevirt.value, { binding: conversion.bindingName, sidecarsLimited });
  if (problems.length > 0) return { stop: denyDecision(`${target.subject} cannot run on VDUSE here yet: ${problems.join('; ')}`) };
  const sidecars = bindingSidecarsWarning(conversion.interfaces, kubevirt.value);
  if (sidecars !== undefined) warnings.push(limitWarning(sidecars));
  return { hotplug: kubevirt.value.memoryHotplug };
}

/** The tuning a running VMI took at its start: a change waits for the VM's next restart. */
const VMI_TUNING_KEYS = ['rxQueueSize', 'txQueueSize', 'queues', 'coalesce'] as const;

/**
 * Annotations: the resolved tuning goes on the template, so the VMI carries explicit values; what
 * came from defaults is recorded as the webhook's, to be re-resolved next time. A change on a VM
 * whose VMI exists reaches the guest only at the next restart, and KubeVirt does not say so: its
 * RestartRequired condition compares spec.template.spec alone, not the template's annotations
 * (pkg/virt-controller/watch/vm/vm.go syncRestartRequired, 1.8.4 and 1.9.0 alike).
 */
function annotationsStage({ target, stored, warnings }: Admission, { tuning, sources }: ResolvedTuning): Record<string, string> {
  const templateAnnotations = target.vmi.metadata?.annotations;
  const annotations: Record<string, string> = { ...templateAnnotations };
  for (const key of CLUSTER_TUNING_KEYS) annotations[TUNING_SCHEMA[key].annotation] = formatTuningValue(key, tuning[key] as never);
  const defaulted = CLUSTER_TUNING_KEYS.filter((key) => sources[key] !== 'vm').map((key) => TUNING_SCHEMA[key].annotation);
  const memLock = target.vmi.spec.domain.memory?.reservedOverhead?.memLock;
  if (memLock === undefined || defaultedNames(templateAnnotations).has(DEFAULTED_MEMLOCK)) defaulted.push(DEFAULTED_MEMLOCK);
  if (stored?.running) {
    const changed = VMI_TUNING_KEYS.map((key) => TUNING_SCHEMA[key].annotation).filter((name) => stored.annotations[name] !== undefined && stored.annotations[name] !== annotations[name]);
    if (changed.length > 0) {
      const names = changed.map((name) => name.slice(KEY_PREFIX.length)).join(', ');
      warnings.push(limitWarning(`vduse: ${names} changed: the running VMI keeps its old tuning until the VM restarts`));
    }
  }
  return recordDefaulted(annotations, defaulted);
}

/**
 * Memory: the memory-hotplug policy (memory-hotplug.ts) decides maxGuest, then memLock: Required
 * and the memlock overhead the vdpa interfaces need (memlock.ts). The records go in `annotations`.
 */
function memoryStage({ target, matched, warnings }: Admission, conversion: Conversion, hotplug: MemoryHotplugSettings, tuning: Tuning, annotations: Record<string, string>): Memory {
  const spec = target.vmi.spec;
  const domainPath = `${target.path}spec.domain`;
  const previous = target.vmi.metadata?.annotations;
  const layoutInput = { subject: target.subject, domainPath, architecture: spec.architecture, instancetype: matched.instancetype?.memory, hotplug };
  const hotplugPlan = planMemoryHotplug({
    ...layoutInput,
    domain: spec.domain,
    policy: tuning.memoryHotplug,
    vdpaInterfaces: conversion.bound.length,
    recorded: previous?.[ANNOTATION_MAX_GUEST],
  });
  setRecord(annotations, ANNOTATION_MAX_GUEST, hotplugPlan.recorded);
  if (hotplugPlan.warning !== undefined) warnings.push(limitWarning(hotplugPlan.warning));

  const domain = { ...spec.domain };
  if (hotplugPlan.memory === undefined) delete domain.memory;
  else domain.memory = hotplugPlan.memory;
  const memlock = planMemlock({
    ...layoutInput,
    domain,
    vdpaInterfaces: conversion.bound.length,
    previouslyAdded: previous?.[ANNOTATION_MEMLOCK_OVERHEAD],
    annotation: ANNOTATION_MEMLOCK_OVERHEAD,
  });
  if (memlock.kind === 'sized') {
    setRecord(annotations, ANNOTATION_MEMLOCK_OVERHEAD, memlock.added);
    // What it costs, once: when the overhead is new or changes, as the hotplug warning above.
    if (memlock.added !== previous?.[ANNOTATION_MEMLOCK_OVERHEAD]) warnings.push(...memlockWarnings(memlock, conversion.bound.length).map(limitWarning));
  } else {
    warnings.push(limitWarning(matched.unsizedBecause ?? `vduse: set ${memlock.missingField}: without it the memlock overhead for vDPA cannot be sized`));
  }
  return memlock.memory;
}

/** Sets a record annotation, or removes it when there is nothing to record. */
function setRecord(annotations: Record<string, string>, name: string, value: string | undefined): void {
  if (value === undefined) Reflect.deleteProperty(annotations, name);
  else annotations[name] = value;
}

/** What the user should know about the conversion itself. */
function addConversionWarnings({ target, warnings }: Admission, networks: ChosenNetworks, conversion: Conversion, tuning: Tuning): void {
  if (conversion.converted.length > 0) warnings.push(limitWarning(`vduse: interfaces ${conversion.converted.join(', ')} now use binding ${conversion.bindingName}`));
  if (!isCoalesceOff(tuning.coalesce) && !hasCloudInit(target.vmi)) {
    warnings.push(limitWarning('vduse: coalescing not delivered: it needs a cloud-init volume, which this VM lacks; set it in the guest (ethtool -C)'));
  }
  if (networks.defaultsPodNetwork) warnings.push(limitWarning(`vduse: added the pod network "${DEFAULT_POD_NETWORK_NAME}", as KubeVirt would, on binding ${conversion.bindingName}`));
}

/**
 * Patch: the parts the webhook writes were copied and changed; the patch is their difference, and
 * nothing else is touched, so status, managedFields and the rest of a large VM cost nothing.
 */
function patchStage({ target }: Admission, networks: ChosenNetworks, conversion: Conversion, annotations: Record<string, string>, memory: Memory, because: string): Decision {
  const spec = target.vmi.spec;
  const templateMetadata = target.vmi.metadata;
  const patch = [
    ...(networks.defaultsPodNetwork ? diff(`${target.pointer}/spec/networks`, spec.networks, networks.networks) : []),
    ...diff(`${target.pointer}/spec/domain/devices/interfaces`, spec.domain.devices.interfaces, conversion.interfaces),
    ...(templateMetadata === undefined
      ? [{ op: 'add' as const, path: `${target.pointer}/metadata`, value: { annotations } }]
      : diff(`${target.pointer}/metadata/annotations`, templateMetadata.annotations, annotations)),
    ...diff(`${target.pointer}/spec/domain/memory`, spec.domain.memory, memory),
  ];
  assertPatchInScope(patch, [...conversion.scope, `${target.pointer}/metadata/annotations`, `${target.pointer}/spec/domain/memory`], target.original);
  const { converted, bound } = conversion;
  return {
    allowed: true,
    outcome: patch.length > 0 ? 'mutated' : 'unchanged',
    reason: converted.length > 0 ? `converted ${converted.join(', ')} (${because})` : `already converted (${because})`,
    patch,
    warnings: [],
    interfaces: bound,
  };
}
