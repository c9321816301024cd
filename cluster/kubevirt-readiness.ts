// Whether the cluster's KubeVirt can run a VM the webhook converts, read from the KubeVirt CR
// (kubevirt.io/v1 KubeVirt): the binding registered with device-info, the ReservedOverheadMemlock
// feature gate, and, for VMIs whose sidecars KubeVirt limits (dedicated CPUs or Guaranteed QoS,
// pkg/virt-controller/services/renderresources.go sidecarResources), a sidecar memory limit the
// sidecar fits in. Pure: the webhook and `doctor` feed it what they read.
import { isObject } from '../api/json.ts';
import { KUBEVIRT_DEFAULT_SIDECAR_MEMORY_BYTES, SIDECAR_MEMORY_LIMIT, SIDECAR_MEMORY_MINIMUM_BYTES } from '../api/sidecar-resources.ts';
import { compareQuantities, parseQuantity, type Quantity, wholeBytes } from '../api/quantity.ts';

export const MEMLOCK_FEATURE_GATE = 'ReservedOverheadMemlock';
export const REGISTRATION_PATCH = 'deploy/kubevirt/register-vduse.jq';

/**
 * Where each fix goes. HCO writes the KubeVirt CR it manages from the HyperConverged CR and undoes
 * edits to it (controllers/handlers/kubevirt.go NewKubeVirt labels it app.kubernetes.io/managed-by:
 * hco-operator, pkg/util/util.go GetLabels), so there the fixes go into the HyperConverged CR.
 */
export function registrationFix(facts: Pick<KubevirtFacts, 'writtenByHco'>, what: 'bindings' | 'configuration'): string {
  if (!facts.writtenByHco) return REGISTRATION_PATCH;
  const patch = what === 'bindings' ? 'deploy/kubevirt/hco/networkbinding.jq' : 'deploy/kubevirt/hco/register-jsonpatch.jq';
  return `${patch} on the HyperConverged CR, which writes this KubeVirt CR and undoes edits to it (deploy/kubevirt/README.md#openshift-virtualization)`;
}

export interface KubevirtFacts {
  /** "KubeVirt kubevirt/kubevirt", for messages. */
  described: string;
  /** HCO (OpenShift Virtualization) writes this CR: labelled managed-by hco-operator, or owned by a HyperConverged CR. */
  writtenByHco: boolean;
  bindings: Readonly<Record<string, { downwardAPI: string | undefined; sidecarImage: string | undefined }>>;
  featureGates: readonly string[];
  /** developerConfiguration.disabledFeatureGates: from 1.9, Beta gates are on unless listed here. */
  disabledFeatureGates: readonly string[];
  /** supportContainerResources type sidecar, limits.memory: what KubeVirt uses over its 64M. */
  sidecarMemoryLimit: string | undefined;
  /** The same entry's requests.memory, which KubeVirt gives every sidecar when it is set. */
  sidecarMemoryRequest: string | undefined;
  /** status.observedKubeVirtVersion, such as "v1.8.0". */
  observedVersion: string | undefined;
  memoryHotplug: MemoryHotplugSettings;
}

/** What the KubeVirt CR says about memory hotplug. */
export interface MemoryHotplugSettings {
  /** spec.configuration.vmRolloutStrategy is LiveUpdate (its default). */
  liveUpdate: boolean;
  /** spec.configuration.liveUpdateConfiguration.maxGuest. */
  maximumGuestMemory: string | undefined;
  /** spec.configuration.liveUpdateConfiguration.maxHotplugRatio. */
  maxHotplugRatio: number;
  /** status.defaultArchitecture, which virt-api gives a VMI without spec.architecture. */
  defaultArchitecture: string | undefined;
}

/** KubeVirt's defaults (pkg/virt-config/virt-config.go): LiveUpdate, ratio 4. */
export const DEFAULT_MEMORY_HOTPLUG: MemoryHotplugSettings = { liveUpdate: true, maximumGuestMemory: undefined, maxHotplugRatio: 4, defaultArchitecture: undefined };

/** Memory hotplug as the KubeVirt CR configures it (pkg/virt-config: IsVMRolloutStrategyLiveUpdate, GetMaximumGuestMemory, GetMaxHotplugRatio). */
export function memoryHotplugSettings(kubevirt: unknown): MemoryHotplugSettings {
  if (!isObject(kubevirt)) return DEFAULT_MEMORY_HOTPLUG;
  const configuration = isObject(kubevirt.spec) && isObject(kubevirt.spec.configuration) ? kubevirt.spec.configuration : {};
  const liveUpdate = isObject(configuration.liveUpdateConfiguration) ? configuration.liveUpdateConfiguration : {};
  const ratio = liveUpdate.maxHotplugRatio;
  const maxGuest = liveUpdate.maxGuest;
  const architecture = isObject(kubevirt.status) ? kubevirt.status.defaultArchitecture : undefined;
  return {
    liveUpdate: configuration.vmRolloutStrategy === undefined || configuration.vmRolloutStrategy === 'LiveUpdate',
    maximumGuestMemory: typeof maxGuest === 'string' || typeof maxGuest === 'number' ? String(maxGuest) : undefined,
    maxHotplugRatio: typeof ratio === 'number' && ratio > 0 ? ratio : DEFAULT_MEMORY_HOTPLUG.maxHotplugRatio,
    defaultArchitecture: typeof architecture === 'string' && architecture !== '' ? architecture : undefined,
  };
}

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((entry): entry is string => typeof entry === 'string') : []);

export function kubevirtFacts(object: unknown): KubevirtFacts {
  const cr = isObject(object) ? object : {};
  const metadata = isObject(cr.metadata) ? cr.metadata : {};
  const configuration = isObject(cr.spec) && isObject(cr.spec.configuration) ? cr.spec.configuration : {};
  const network = isObject(configuration.network) && isObject(configuration.network.binding) ? configuration.network.binding : {};
  const bindings = Object.fromEntries(
    Object.entries(network).map(([name, plugin]) => [
      name,
      { downwardAPI: isObject(plugin) && typeof plugin.downwardAPI === 'string' ? plugin.downwardAPI : undefined, sidecarImage: isObject(plugin) && typeof plugin.sidecarImage === 'string' ? plugin.sidecarImage : undefined },
    ]),
  );
  const developer = isObject(configuration.developerConfiguration) ? configuration.developerConfiguration : {};
  // KubeVirt takes the first sidecar entry with a non-zero quantity (pkg/virt-config
  // GetSupportContainerLimit, GetSupportContainerRequest).
  const sidecarMemory = (kind: 'limits' | 'requests') =>
    (Array.isArray(configuration.supportContainerResources) ? configuration.supportContainerResources : [])
      .filter((entry) => isObject(entry) && entry.type === 'sidecar')
      .map((entry) => (isObject(entry) && isObject(entry.resources) && isObject(entry.resources[kind]) ? entry.resources[kind].memory : undefined))
      .map((memory) => (typeof memory === 'string' || typeof memory === 'number' ? String(memory) : undefined))
      .find((memory) => memory !== undefined && parseQuantity(memory)?.numerator !== 0n);
  const status = isObject(cr.status) ? cr.status : {};
  const labels = isObject(metadata.labels) ? metadata.labels : {};
  const owners = Array.isArray(metadata.ownerReferences) ? metadata.ownerReferences : [];
  return {
    described: `KubeVirt ${typeof metadata.namespace === 'string' ? metadata.namespace : ''}/${typeof metadata.name === 'string' ? metadata.name : ''}`,
    writtenByHco: labels['app.kubernetes.io/managed-by'] === 'hco-operator' || owners.some((owner) => isObject(owner) && owner.kind === 'HyperConverged'),
    bindings,
    featureGates: strings(developer.featureGates),
    disabledFeatureGates: strings(developer.disabledFeatureGates),
    sidecarMemoryLimit: sidecarMemory('limits'),
    sidecarMemoryRequest: sidecarMemory('requests'),
    observedVersion: typeof status.observedKubeVirtVersion === 'string' ? status.observedKubeVirtVersion : undefined,
    memoryHotplug: memoryHotplugSettings(cr),
  };
}

/**
 * KubeVirt's IsCPUDedicated or WantsToHaveQOSGuaranteed, on the VMI spec after the instancetype and
 * after virt-api's defaults: setDefaultResourceRequests (pkg/defaults) copies limits.cpu into an
 * absent or zero requests.cpu before QoS is decided, so limits alone make a VMI Guaranteed.
 */
export function sidecarsAreLimited(vmiSpec: unknown, instancetypeDedicated: boolean): boolean {
  const spec = isObject(vmiSpec) ? vmiSpec : {};
  const domain = isObject(spec.domain) ? spec.domain : {};
  if (instancetypeDedicated || (isObject(domain.cpu) && domain.cpu.dedicatedCpuPlacement === true)) return true;
  const resources = isObject(domain.resources) ? domain.resources : {};
  const quantity = (map: unknown, key: string) => {
    const text = isObject(map) ? map[key] : undefined;
    return typeof text === 'string' || typeof text === 'number' ? parseQuantity(String(text)) : undefined;
  };
  const same = (a: Quantity | undefined, b: Quantity | undefined) => a !== undefined && b !== undefined && compareQuantities(a, b) === 0;
  const zero = (q: Quantity | undefined) => q === undefined || q.numerator === 0n;
  const memoryWantsIt = (zero(quantity(resources.requests, 'memory')) && !zero(quantity(resources.limits, 'memory'))) || (!zero(quantity(resources.requests, 'memory')) && same(quantity(resources.requests, 'memory'), quantity(resources.limits, 'memory')));
  const cpuRequest = zero(quantity(resources.requests, 'cpu')) ? quantity(resources.limits, 'cpu') : quantity(resources.requests, 'cpu');
  const cpuWantsIt = !zero(cpuRequest) && same(cpuRequest, quantity(resources.limits, 'cpu'));
  return memoryWantsIt && cpuWantsIt;
}

export interface ReadinessNeeds {
  /** The binding the VM's interfaces use. */
  binding: string;
  /** Its sidecars get KubeVirt's dedicated-CPU limits. */
  sidecarsLimited: boolean;
}

/** What is missing for such a VM, each with its fix; empty when KubeVirt is ready. */
export function readinessProblems(facts: KubevirtFacts, needs: ReadinessNeeds): string[] {
  const problems: string[] = [];
  const plugin = facts.bindings[needs.binding];
  if (plugin === undefined) {
    problems.push(`${facts.described} has no network binding "${needs.binding}" (spec.configuration.network.binding); register it with ${registrationFix(facts, 'bindings')}`);
  } else if (plugin.downwardAPI !== 'device-info') {
    problems.push(
      `${facts.described}: binding "${needs.binding}" has downwardAPI ${JSON.stringify(plugin.downwardAPI ?? null)}, not "device-info", so the sidecar cannot find its devices; register it with ${registrationFix(facts, 'bindings')}`,
    );
  }
  if (!facts.featureGates.includes(MEMLOCK_FEATURE_GATE)) {
    problems.push(`${facts.described} lacks the ${MEMLOCK_FEATURE_GATE} feature gate, which reservedOverhead.memLock needs; add it with ${registrationFix(facts, 'configuration')}`);
  }
  if (needs.sidecarsLimited) {
    const parsed = facts.sidecarMemoryLimit === undefined ? undefined : parseQuantity(facts.sidecarMemoryLimit);
    const limit = parsed === undefined ? BigInt(KUBEVIRT_DEFAULT_SIDECAR_MEMORY_BYTES) : wholeBytes(parsed);
    if (limit < BigInt(SIDECAR_MEMORY_MINIMUM_BYTES)) {
      problems.push(
        `${facts.described} limits the sidecars of VMs with dedicated CPUs or Guaranteed QoS to ${facts.sidecarMemoryLimit ?? '64M (its default)'}, and the vduse sidecar needs ${SIDECAR_MEMORY_MINIMUM_BYTES / 1_000_000}M; set supportContainerResources type sidecar limits.memory to ${SIDECAR_MEMORY_LIMIT} with ${registrationFix(facts, 'configuration')}`,
      );
    }
  }
  return problems;
}
