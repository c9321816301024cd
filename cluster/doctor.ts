// kubevirt-vduse doctor's checks: what a cluster needs before VDUSE VMs can run, each with its
// fix. checkCluster() is pure, over what readCluster() read; a read that failed is a failed check
// that says why, never a crash.
import { ApiException } from '@kubernetes/client-node';
import { isObject } from '../api/json.ts';
import { ANNOTATION_NETWORKS, DEFAULT_POD_NETWORK_NAME, LABEL_NAMESPACE_POLICY, LABEL_VM_ENABLED, NAD_RESOURCE_NAME_ANNOTATION, namespacePolicyProblem, pluginBindingNames } from '../api/names.ts';
import { KUBEVIRT_DEFAULT_SIDECAR_MEMORY_BYTES, SIDECAR_MEMORY_MINIMUM_BYTES } from '../api/sidecar-resources.ts';
import type { ClusterClients } from './clients.ts';
import { describeError, statusMessage, unreachableReason } from './errors.ts';
import { type KubevirtFacts, kubevirtFacts, readinessProblems, registrationFix } from './kubevirt-readiness.ts';
import { KUBEVIRT_GROUP, KUBEVIRT_PLURAL, KUBEVIRT_VERSION, NAD_GROUP, NAD_PLURAL, NAD_VERSION, PLUGIN_GROUP, PLUGIN_PLURAL, PLUGIN_VERSION, VM_PLURAL } from './resources.ts';

/** The first KubeVirt with reservedOverhead and the ReservedOverheadMemlock gate. */
export const MINIMUM_KUBEVIRT = [1, 8] as const;
/**
 * The first KubeVirt that applies the memlock limit on a migration target before the migration
 * (pkg/virt-handler/migration-target.go calls AdjustResources while preparing the target; 1.8 does
 * only once the domain has arrived, too late for QEMU), and that tells a binding sidecar its name
 * (NETWORK_BINDING_PLUGIN_NAME).
 */
export const MIGRATING_KUBEVIRT = [1, 9] as const;
/**
 * The first KubeVirt whose Beta feature gates are on unless disabled (1.9's
 * pkg/virt-config/featuregate/feature-gates.go IsEnabled; 1.8's virt-config isFeatureGateEnabled
 * needs them listed), and the first with the plugin pipeline (the Alpha gate Plugins).
 */
export const BETA_ON_KUBEVIRT = [1, 9] as const;
export const PLUGINS_KUBEVIRT = [1, 9] as const;
/** Beta since 1.8: virt-controller stops reading NetworkAttachmentDefinitions for their resource (pkg/virt-controller/services/template.go). */
export const EXTERNAL_NET_RESOURCE_INJECTION = 'ExternalNetResourceInjection';
export const PLUGINS_FEATURE_GATE = 'Plugins';

export interface DoctorOptions {
  bindingName: string;
  resourceName: string;
  /** Where the webhook runs, and its names, as deploy/base has them. */
  webhookNamespace: string;
  webhookService: string;
  webhookConfiguration: string;
}

/** Each read: the objects, or why they could not be read. */
export type Read<T> = { ok: T } | { error: string; unreachable?: boolean };

export interface ClusterState {
  /** The kubeconfig's server, and what its /version said. */
  server: string;
  apiServer: Read<{ gitVersion: string }>;
  kubevirts: Read<unknown[]>;
  webhookConfiguration: Read<unknown>;
  endpointSlices: Read<unknown[]>;
  nads: Read<unknown[]>;
  nodes: Read<unknown[]>;
  /** KubeVirt's Plugin CRs; none where KubeVirt has no such CRD (before 1.9). */
  plugins: Read<unknown[]>;
  namespaces: Read<unknown[]>;
  /** The probe VM as the API server's dry run returned it, and where it was sent. */
  probe: Read<unknown> & { namespace?: string };
}

/** ok; warn: works, with a limit the detail names (doctor still passes); fail: must be fixed. */
export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  check: string;
  status: CheckStatus;
  /** status is not fail. */
  ok: boolean;
  detail: string;
  /** What to do, when it failed or warns. */
  fix?: string;
}

const pass = (check: string, detail: string): CheckResult => ({ check, status: 'ok', ok: true, detail });
const warn = (check: string, detail: string, fix: string): CheckResult => ({ check, status: 'warn', ok: true, detail, fix });
const fail = (check: string, detail: string, fix: string): CheckResult => ({ check, status: 'fail', ok: false, detail, fix });
/** The value at a path of object keys, or undefined where a step is not an object. */
const field = (object: unknown, ...keys: string[]): unknown => keys.reduce<unknown>((node, key) => (isObject(node) ? node[key] : undefined), object);
const list = (value: unknown): unknown[] => (Array.isArray(value) ? (value as unknown[]) : []);
const metadataOf = (object: unknown): Record<string, unknown> => (isObject(object) && isObject(object.metadata) ? object.metadata : {});
const nameOf = (object: unknown): string => {
  const { name, namespace } = metadataOf(object);
  return `${typeof namespace === 'string' ? `${namespace}/` : ''}${typeof name === 'string' ? name : '?'}`;
};
const atLeast = (version: RegExpExecArray | null, [major, minor]: readonly [number, number]) =>
  version !== null && (Number(version[1]) > major || (Number(version[1]) === major && Number(version[2]) >= minor));
/** An image's name without its tag or digest: "registry/kubevirt-vduse/sidecar-cloudinit". */
const imageRepository = (image: string) => image.replace(/@.*$/, '').replace(/:[^/:]*$/, '');

/** The fix, with the page that explains it; registrationFix names its own page where HCO writes the CR. */
const applyFix = (facts: KubevirtFacts, what: 'bindings' | 'configuration', page?: string) =>
  `apply ${registrationFix(facts, what)}${page === undefined || facts.writtenByHco ? '' : ` (${page})`}`;

function kubevirtChecks(state: ClusterState, options: DoctorOptions): CheckResult[] {
  const names = ['KubeVirt version', 'binding registration', 'feature gate', 'sidecar resources'];
  const { kubevirts } = state;
  if ('error' in kubevirts) return names.map((check) => fail(check, `cannot read the KubeVirt CR: ${kubevirts.error}`, 'check the kubeconfig and its RBAC: get and list on kubevirts.kubevirt.io'));
  const [cr] = kubevirts.ok;
  if (cr === undefined) return names.map((check) => fail(check, 'no KubeVirt CR in the cluster', 'install KubeVirt 1.8 or later'));
  const facts = kubevirtFacts(cr);
  const results: CheckResult[] = [];
  const version = /^v?(\d+)\.(\d+)/.exec(facts.observedVersion ?? '');
  results.push(
    atLeast(version, MINIMUM_KUBEVIRT)
      ? pass('KubeVirt version', `${facts.described} runs ${facts.observedVersion!}`)
      : fail('KubeVirt version', `${facts.described} runs ${facts.observedVersion ?? 'an unknown version (no status.observedKubeVirtVersion)'}`, `upgrade to KubeVirt ${MINIMUM_KUBEVIRT.join('.')} or later (HCO 1.18 on OpenShift): reservedOverhead and ReservedOverheadMemlock first appear there`),
  );
  const bindings = pluginBindingNames(options.bindingName);
  const bindingProblems = bindings.flatMap((binding) => readinessProblems(facts, { binding, sidecarsLimited: false }).filter((problem) => problem.includes('binding')));
  // KubeVirt 1.8 sets no NETWORK_BINDING_PLUGIN_NAME: the cloud-init binding's sidecar knows its
  // name only from its image (Dockerfile, target sidecar-cloudinit).
  const cloudInitImage = facts.bindings[bindings[1]]?.sidecarImage;
  if (version !== null && !atLeast(version, MIGRATING_KUBEVIRT) && cloudInitImage !== undefined && !imageRepository(cloudInitImage).endsWith('-cloudinit')) {
    bindingProblems.push(
      `binding "${bindings[1]}" has the sidecar image ${cloudInitImage}; KubeVirt ${facts.observedVersion!} does not tell a sidecar its binding, so that sidecar takes itself for "${bindings[0]}", and VMs with coalescing boot without their VDUSE interfaces: it needs the sidecar-cloudinit image`,
    );
  }
  results.push(bindingProblems.length === 0 ? pass('binding registration', `${bindings.join(' and ')} are registered with downwardAPI: device-info`) : fail('binding registration', bindingProblems.join('; '), applyFix(facts, 'bindings', 'deploy/kubevirt/README.md')));
  const gate = readinessProblems(facts, { binding: options.bindingName, sidecarsLimited: false }).filter((problem) => problem.includes('feature gate'));
  results.push(gate.length === 0 ? pass('feature gate', 'ReservedOverheadMemlock is enabled') : fail('feature gate', gate.join('; '), applyFix(facts, 'configuration')));
  const memory = readinessProblems(facts, { binding: options.bindingName, sidecarsLimited: true }).filter((problem) => problem.includes('sidecars'));
  results.push(memory.length === 0 ? pass('sidecar resources', sidecarMemoryDetail(facts)) : fail('sidecar resources', memory.join('; '), applyFix(facts, 'configuration', 'deploy/kubevirt/README.md#sidecar-memory')));
  if (version !== null && atLeast(version, MINIMUM_KUBEVIRT)) {
    results.push(deviceRequestsCheck(facts, version, options), pluginPipelineCheck(facts, version, state.plugins));
    results.push(
      atLeast(version, MIGRATING_KUBEVIRT)
        ? pass('live migration', `KubeVirt ${facts.observedVersion!} sets the memlock limit on a migration's target before QEMU starts there`)
        : warn(
            'live migration',
            `KubeVirt ${facts.observedVersion!} sets the memlock limit on a migration's target only after the migration (pkg/virt-handler/migration-target.go), so VDUSE VMs cannot live-migrate: the migration fails and the VM stays on its node; starting, stopping and restarting work`,
            `upgrade to KubeVirt ${MIGRATING_KUBEVIRT.join('.')} or later for live migration; until then, stop and start a VM to move it (docs/migration.md)`,
          ),
    );
  }
  return results;
}

/** Whether virt-controller asks for the VDUSE device of a VM's VDUSE networks. */
function deviceRequestsCheck(facts: KubevirtFacts, version: RegExpExecArray, options: DoctorOptions): CheckResult {
  const gate = EXTERNAL_NET_RESOURCE_INJECTION;
  const explicitly = facts.featureGates.includes(gate);
  const byDefault = atLeast(version, BETA_ON_KUBEVIRT) && !facts.disabledFeatureGates.includes(gate);
  if (!explicitly && !byDefault) return pass('device requests', `virt-controller adds ${options.resourceName} to the launcher Pod of a VM on a VDUSE NetworkAttachmentDefinition`);
  return warn(
    'device requests',
    `${facts.described} has ${gate} on (${explicitly ? 'in featureGates' : `a Beta gate, on by default since KubeVirt ${BETA_ON_KUBEVIRT.join('.')}`}): virt-controller does not read NetworkAttachmentDefinitions (pkg/virt-controller/services/template.go), so a launcher Pod asks for no ${options.resourceName}, and without a device its VDUSE interfaces cannot start`,
    `run a network resources injector that adds the NetworkAttachmentDefinition's resource to the Pod, or add ${gate} to spec.configuration.developerConfiguration.disabledFeatureGates${explicitly ? ' and remove it from featureGates' : ''}`,
  );
}

/**
 * KubeVirt 1.9's plugin pipeline: with the Plugins gate and any Plugin CR, virt-launcher rebuilds
 * the domain from its own model after the binding sidecars, which has no field for the rings' sizes.
 */
function pluginPipelineCheck(facts: KubevirtFacts, version: RegExpExecArray, plugins: Read<unknown[]>): CheckResult {
  const check = 'plugin pipeline';
  if (!atLeast(version, PLUGINS_KUBEVIRT)) return pass(check, `KubeVirt ${facts.observedVersion!} has no plugin pipeline`);
  if (!facts.featureGates.includes(PLUGINS_FEATURE_GATE)) return pass(check, `the ${PLUGINS_FEATURE_GATE} feature gate is off: virt-launcher defines the domain the binding sidecars return`);
  const why =
    "virt-launcher then reads the domain the binding sidecars returned into KubeVirt's domain model and has the Plugins rebuild it (pkg/virt-launcher/virtwrap/util/libvirt_helper.go SetDomainSpecStrWithHooks, plugins.ApplyDomainHooks); the model has no rx_queue_size or tx_queue_size, so every vdpa interface gets QEMU's 256-descriptor rings instead of the tuned ones (1024 by default)";
  const fix = `turn the ${PLUGINS_FEATURE_GATE} feature gate off, or keep no Plugin CR, while VDUSE VMs need their ring sizes (docs/requirements.md)`;
  if ('error' in plugins) return fail(check, `the ${PLUGINS_FEATURE_GATE} feature gate is on, and the Plugin CRs cannot be read (${plugins.error}); with any Plugin, ${why}`, `${fix}; doctor needs list on plugins.plugin.kubevirt.io`);
  if (plugins.ok.length === 0) return warn(check, `the ${PLUGINS_FEATURE_GATE} feature gate is on and no Plugin CR exists yet; once one does, ${why}`, fix);
  return fail(check, `the ${PLUGINS_FEATURE_GATE} feature gate is on with ${plugins.ok.length} Plugin(s) (${plugins.ok.map(nameOf).slice(0, 5).join(', ')}): ${why}`, fix);
}

/**
 * What the sidecar memory setting gives, and costs: KubeVirt gives its sidecar limit to every hook
 * sidecar of every VMI, not only the dedicated-CPU ones, and Kubernetes makes a limit without a
 * request the request too (pkg/virt-controller/services/renderresources.go sidecarResources).
 */
function sidecarMemoryDetail(facts: KubevirtFacts): string {
  const limit = facts.sidecarMemoryLimit!;
  const request = facts.sidecarMemoryRequest ?? limit;
  const given = facts.sidecarMemoryRequest === undefined ? `${limit} of memory as its limit and its request` : `a memory limit of ${limit} and a request of ${request}`;
  return (
    `every hook sidecar (ours, and any other binding's or hook's) gets ${given} (supportContainerResources type sidecar), ` +
    `the vduse sidecar needing ${SIDECAR_MEMORY_MINIMUM_BYTES / 1_000_000}M: a VMI's Pod requests ${request} more per sidecar, ` +
    `where KubeVirt alone requests ${KUBEVIRT_DEFAULT_SIDECAR_MEMORY_BYTES / 1_000_000}M for a dedicated-CPU VMI's sidecar and nothing for another's`
  );
}

/** The policy label of each Namespace: one the webhook does not know refuses every VM there, with the same message. */
function namespaceChecks(state: ClusterState): CheckResult[] {
  if ('error' in state.namespaces) return [fail('Namespace policies', `cannot list Namespaces: ${state.namespaces.error}`, 'check the kubeconfig and its RBAC: list on namespaces')];
  const byPolicy = new Map<string, string[]>();
  const problems: string[] = [];
  for (const namespace of state.namespaces.ok) {
    const name = nameOf(namespace);
    const labels = isObject(metadataOf(namespace).labels) ? (metadataOf(namespace).labels as Record<string, unknown>) : {};
    const policy = labels[LABEL_NAMESPACE_POLICY];
    if (typeof policy !== 'string') continue;
    const problem = namespacePolicyProblem(name, policy);
    if (problem !== undefined) problems.push(problem);
    else byPolicy.set(policy, [...(byPolicy.get(policy) ?? []), name]);
  }
  if (problems.length > 0) {
    return [fail('Namespace policies', problems.join('; '), `kubectl label namespace NAME ${LABEL_NAMESPACE_POLICY}=enabled --overwrite (or disabled): until then the webhook refuses every VM there`)];
  }
  const listed = [...byPolicy].map(([policy, names]) => `${policy} in ${names.slice(0, 5).join(', ')}${names.length > 5 ? ` and ${names.length - 5} more` : ''}`);
  return [pass('Namespace policies', listed.length > 0 ? `${LABEL_NAMESPACE_POLICY}: ${listed.join('; ')}` : `no Namespace has ${LABEL_NAMESPACE_POLICY} yet: VMs opt in by their own label`)];
}

function webhookChecks(state: ClusterState, options: DoctorOptions): CheckResult[] {
  const results: CheckResult[] = [];
  const service = `Service ${options.webhookNamespace}/${options.webhookService}`;
  if ('error' in state.endpointSlices) {
    results.push(fail('webhook endpoints', `cannot read the EndpointSlices of ${service}: ${state.endpointSlices.error}`, 'check the kubeconfig and its RBAC'));
  } else {
    const ready = state.endpointSlices.ok.flatMap((slice) => (isObject(slice) && Array.isArray(slice.endpoints) ? (slice.endpoints as unknown[]) : [])).filter((endpoint) => isObject(endpoint) && (!isObject(endpoint.conditions) || endpoint.conditions.ready !== false));
    results.push(
      ready.length > 0
        ? pass('webhook endpoints', `${service} has ${ready.length} ready endpoint(s)`)
        : fail('webhook endpoints', `${service} has no ready endpoints: every VM in an opted-in Namespace is refused while it has none (failurePolicy: Fail)`, `kubectl -n ${options.webhookNamespace} get pods,events; kubectl -n ${options.webhookNamespace} logs deploy/${options.webhookService}`),
    );
  }
  const configuration = `MutatingWebhookConfiguration ${options.webhookConfiguration}`;
  if ('error' in state.webhookConfiguration) {
    results.push(fail('webhook caBundle', `cannot read ${configuration}: ${state.webhookConfiguration.error}`, 'install the webhook: docs/install.md'));
  } else {
    const webhooks = isObject(state.webhookConfiguration.ok) && Array.isArray(state.webhookConfiguration.ok.webhooks) ? state.webhookConfiguration.ok.webhooks : [];
    const empty = webhooks.filter((webhook) => !(isObject(webhook) && isObject(webhook.clientConfig) && typeof webhook.clientConfig.caBundle === 'string' && webhook.clientConfig.caBundle !== ''));
    results.push(
      webhooks.length > 0 && empty.length === 0
        ? pass('webhook caBundle', `${configuration}: every webhook has a caBundle`)
        : fail('webhook caBundle', `${configuration}: ${empty.length || 'no'} webhook(s) without a caBundle, so the API server cannot trust the webhook`, 'the cert-manager overlay fills it through its CA injector, the openshift overlay through the service-ca operator; with deploy/base, set it yourself'),
    );
  }
  results.push(probeCheck(state, options));
  return results;
}

/** The VM doctor sends through the API server, dry run: opted in by its label, its pod network named VDUSE. */
function probeVm(): Record<string, unknown> {
  return {
    apiVersion: `${KUBEVIRT_GROUP}/${KUBEVIRT_VERSION}`,
    kind: 'VirtualMachine',
    metadata: { generateName: 'kubevirt-vduse-doctor-probe-', labels: { [LABEL_VM_ENABLED]: 'true' }, annotations: { [ANNOTATION_NETWORKS]: DEFAULT_POD_NETWORK_NAME } },
    spec: {
      runStrategy: 'Halted',
      template: { spec: { domain: { devices: { interfaces: [{ name: DEFAULT_POD_NETWORK_NAME, masquerade: {} }] }, memory: { guest: '128Mi' } }, networks: [{ name: DEFAULT_POD_NETWORK_NAME, pod: {} }] } },
    },
  };
}

/**
 * Ready endpoints do not prove that the API server reaches the webhook, nor that it answers: the
 * probe VM does, when it comes back from the API server's dry run with its interface on the binding.
 */
function probeCheck(state: ClusterState, options: DoctorOptions): CheckResult {
  const { probe } = state;
  const where = probe.namespace === undefined ? 'no Namespace' : `Namespace ${probe.namespace}`;
  const fix = `kubectl -n ${options.webhookNamespace} get pods,events; kubectl -n ${options.webhookNamespace} logs deploy/${options.webhookService}`;
  if ('error' in probe) {
    if (/admission webhook "[^"]*vduse[^"]*" denied the request/.test(probe.error)) {
      // It answers; what KubeVirt lacks, the checks above find and fail. Any other denial is a failure of its own.
      const detail = `a probe VM in ${where} (a dry run): the webhook answered, and denied it: ${probe.error}`;
      return probe.error.includes('cannot run on VDUSE here yet') ? warn('webhook answers', detail, 'fix what the checks above fail') : fail('webhook answers', detail, fix);
    }
    // RBAC's own refusal, before any admission: the user may read but not create.
    if (probe.error.includes('cannot create resource "virtualmachines"')) {
      return warn('webhook answers', `cannot send a probe VM in ${where} (a dry run, which stores nothing): ${probe.error}`, `run doctor as a user who may create virtualmachines.kubevirt.io in ${where}, to prove the webhook answers`);
    }
    return fail('webhook answers', `a probe VM in ${where} (a dry run) did not come back: ${probe.error}`, fix);
  }
  const binding = field(list(field(probe.ok, 'spec', 'template', 'spec', 'domain', 'devices', 'interfaces'))[0], 'binding', 'name');
  return binding === options.bindingName
    ? pass('webhook answers', `a probe VM in ${where} (a dry run, nothing stored) came back from the API server with its interface on binding ${options.bindingName}`)
    : fail('webhook answers', `a probe VM in ${where} (a dry run) came back without the webhook's mutation (binding ${JSON.stringify(binding ?? null)}): the API server did not send it to the webhook`, `check the selectors of MutatingWebhookConfiguration ${options.webhookConfiguration} against deploy/base/mutating-webhook.yaml`);
}

function nodeChecks(state: ClusterState, options: DoctorOptions): CheckResult[] {
  const results: CheckResult[] = [];
  if ('error' in state.nads) {
    results.push(fail('VDUSE networks', `cannot list NetworkAttachmentDefinitions: ${state.nads.error}`, 'check the kubeconfig; is Multus installed?'));
  } else {
    const vduse = state.nads.ok.filter((nad) => metadataOf(nad).annotations !== undefined && isObject(metadataOf(nad).annotations) && (metadataOf(nad).annotations as Record<string, unknown>)[NAD_RESOURCE_NAME_ANNOTATION] === options.resourceName);
    // Not a failure of the install: networks come after it (docs/install.md, step 4), and a
    // Namespace may declare its pod network VDUSE-backed instead.
    results.push(
      vduse.length > 0
        ? pass('VDUSE networks', `${vduse.length} NetworkAttachmentDefinition(s) name ${options.resourceName}: ${vduse.map(nameOf).slice(0, 5).join(', ')}`)
        : warn('VDUSE networks', `no NetworkAttachmentDefinition has ${NAD_RESOURCE_NAME_ANNOTATION}: ${options.resourceName} yet, so only VDUSE pod networks get VDUSE`, 'create one: deploy/examples/network-attachment-definition.yaml'),
    );
  }
  if ('error' in state.nodes) {
    results.push(fail('VDUSE devices on nodes', `cannot list Nodes: ${state.nodes.error}`, 'check the kubeconfig and its RBAC: list on nodes'));
  } else {
    const advertising = state.nodes.ok.filter((node) => {
      const allocatable = isObject(node) && isObject(node.status) && isObject(node.status.allocatable) ? node.status.allocatable[options.resourceName] : undefined;
      return typeof allocatable === 'string' && /^[1-9]\d*$/.test(allocatable);
    });
    results.push(
      advertising.length > 0
        ? pass('VDUSE devices on nodes', `${advertising.length} node(s) have allocatable ${options.resourceName}: ${advertising.map(nameOf).slice(0, 5).join(', ')}`)
        : fail('VDUSE devices on nodes', `no node has allocatable ${options.resourceName}`, 'run the VDUSE device plugin on the nodes with OVS-DPDK VDUSE ports (docs/requirements.md)'),
    );
  }
  return results;
}

export function checkCluster(state: ClusterState, options: DoctorOptions): CheckResult[] {
  // One line, not one per check, when there is no API server to ask.
  if ('error' in state.apiServer) {
    return [
      state.apiServer.unreachable
        ? fail('API server', `cannot reach ${state.server}: ${state.apiServer.error}`, 'check the server in the kubeconfig, and that the cluster is up: kubectl version')
        : fail('API server', `${state.server} refused the request: ${state.apiServer.error}`, "check the kubeconfig's credentials: kubectl auth whoami"),
    ];
  }
  return [pass('API server', `${state.server} runs Kubernetes ${state.apiServer.ok.gitVersion}`), ...kubevirtChecks(state, options), ...webhookChecks(state, options), ...namespaceChecks(state), ...nodeChecks(state, options)];
}

const read = async <T>(work: () => Promise<T>, withMessage = false): Promise<Read<T>> => {
  try {
    return { ok: await work() };
  } catch (error) {
    const unreachable = unreachableReason(error);
    if (unreachable !== undefined) return { error: unreachable, unreachable: true };
    return { error: (withMessage ? statusMessage(error) : undefined) ?? describeError(error) };
  }
};
const items = (list: unknown): unknown[] => (isObject(list) && Array.isArray(list.items) ? list.items : []);

/**
 * Where the probe VM goes: a Namespace the webhook is sent VMs from and decides on. `default`
 * (which every cluster has) unless its policy is not "enabled", else a policy=enabled one; never
 * one the webhook configuration's namespaceSelector leaves out, nor an openshift-* one.
 */
function probeNamespace(namespaces: Read<unknown[]>, webhookConfiguration: Read<unknown>): string | undefined {
  const webhooks = 'ok' in webhookConfiguration ? list(field(webhookConfiguration.ok, 'webhooks')) : [];
  const excluded = new Set(
    webhooks
      .flatMap((webhook) => list(field(webhook, 'namespaceSelector', 'matchExpressions')))
      .flatMap((expression) => (field(expression, 'key') === 'kubernetes.io/metadata.name' && field(expression, 'operator') === 'NotIn' ? list(field(expression, 'values')) : [])),
  );
  if (!('ok' in namespaces)) return 'default';
  const suitable = namespaces.ok.flatMap((namespace) => {
    const { name, labels, deletionTimestamp } = metadataOf(namespace);
    const policy = isObject(labels) ? labels[LABEL_NAMESPACE_POLICY] : undefined;
    return typeof name === 'string' && !excluded.has(name) && !name.startsWith('openshift-') && deletionTimestamp === undefined && (policy === undefined || policy === 'enabled') ? [{ name, policy }] : [];
  });
  return (suitable.find(({ name }) => name === 'default') ?? suitable.find(({ policy }) => policy === 'enabled'))?.name;
}

/** Everything the checks need: first whether the API server answers at all, then the rest in parallel, each read failing on its own; then the probe. */
export async function readCluster(clients: ClusterClients, options: DoctorOptions): Promise<ClusterState> {
  const apiServer = await read(async () => ({ gitVersion: (await clients.version.getCode()).gitVersion }));
  const skipped: Read<never> = { error: 'not read: the API server did not answer' };
  if ('error' in apiServer) return { server: clients.server, apiServer, kubevirts: skipped, webhookConfiguration: skipped, endpointSlices: skipped, nads: skipped, nodes: skipped, plugins: skipped, namespaces: skipped, probe: skipped };
  const { custom, core } = clients;
  const [kubevirts, webhookConfiguration, endpointSlices, nads, nodes, plugins, namespaces] = await Promise.all([
    read(async () => items(await custom.listClusterCustomObject({ group: KUBEVIRT_GROUP, version: KUBEVIRT_VERSION, plural: KUBEVIRT_PLURAL }))),
    read(() => clients.admission.readMutatingWebhookConfiguration({ name: options.webhookConfiguration }) as Promise<unknown>),
    read(async () => items(await clients.discovery.listNamespacedEndpointSlice({ namespace: options.webhookNamespace, labelSelector: `kubernetes.io/service-name=${options.webhookService}` }))),
    read(async () => items(await custom.listClusterCustomObject({ group: NAD_GROUP, version: NAD_VERSION, plural: NAD_PLURAL }))),
    read(async () => items(await core.listNode())),
    // Before 1.9 there is no Plugin CRD: none.
    read(async () => {
      try {
        return items(await custom.listClusterCustomObject({ group: PLUGIN_GROUP, version: PLUGIN_VERSION, plural: PLUGIN_PLURAL }));
      } catch (error) {
        if (error instanceof ApiException && error.code === 404) return [];
        throw error;
      }
    }),
    read(async () => items(await core.listNamespace())),
  ]);
  // dryRun=All: every admission webhook runs, and nothing is stored (the webhook declares sideEffects: None).
  const namespace = probeNamespace(namespaces, webhookConfiguration);
  const probe =
    namespace === undefined
      ? { error: 'no Namespace the webhook decides on (default has a policy other than enabled, and no Namespace has policy=enabled)' }
      : { namespace, ...(await read(() => custom.createNamespacedCustomObject({ group: KUBEVIRT_GROUP, version: KUBEVIRT_VERSION, namespace, plural: VM_PLURAL, body: probeVm(), dryRun: 'All' }) as Promise<unknown>, true)) };
  return { server: clients.server, apiServer, kubevirts, webhookConfiguration, endpointSlices, nads, nodes, plugins, namespaces, probe };
}
