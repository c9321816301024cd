// deploy/: rendered by kubectl kustomize, every object checked against its schema, and held
// against the code so nothing drifts (paths, ports, names, label keys, plugin name, RBAC).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyPatch } from 'rfc6902';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import type { VirtualMachine } from '../../api/kubevirt.ts';
import { KUBEVIRT_DEFAULT_SIDECAR_MEMORY_BYTES, SIDECAR_MEMORY_LIMIT, SIDECAR_MEMORY_LIMIT_BYTES, SIDECAR_MEMORY_MINIMUM_BYTES } from '../../api/sidecar-resources.ts';
import { cloudInitBindingName, DEFAULT_BINDING_PLUGIN_NAME, DEFAULT_VDUSE_RESOURCE_NAME, LABEL_NAMESPACE_POLICY, LABEL_VM_ENABLED, NAD_RESOURCE_NAME_ANNOTATION } from '../../api/names.ts';
import { INSTANCETYPE_GROUP, NAD_GROUP, NAD_PLURAL } from '../../cluster/resources.ts';
import { DEFAULT_CONFIG, parseWebhookConfig, SYSTEM_NAMESPACE_PREFIX } from '../../webhook/config.ts';
import { createWebhookMetrics } from '../../webhook/metrics.ts';
import { DEFAULT_HEALTH_PORT, DEFAULT_WEBHOOK_PORT, MUTATE_PATH } from '../../webhook/server.ts';
import { applyIndependently, decideFor } from '../helpers/admission.ts';
import { projectFile } from '../helpers/fixtures.ts';
import { objectSchemaErrors } from '../helpers/kubernetes-schemas.ts';
import { schemaErrors } from '../helpers/kubevirt-schema.ts';
import { commandProblem, describeRequiring } from '../helpers/requirements.ts';

/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-argument --
   Loose on purpose: the tests read whatever kustomize renders; the schema checks do the typing. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Manifest = Record<string, any> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> } };

const VARIANTS = ['base', 'overlays/cert-manager', 'overlays/openshift'] as const;

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

/** A label selector as the API server evaluates it: NotIn and DoesNotExist also match a missing key. */
function selects(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (selector === undefined) return true;
  const matches = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
  return (
    matches &&
    (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
      const value = labels[key];
      if (operator === 'In') return value !== undefined && values.includes(value);
      if (operator === 'NotIn') return value === undefined || !values.includes(value);
      return operator === 'Exists' ? value !== undefined : value === undefined;
    })
  );
}

function render(variant: string, root = projectFile('deploy')): Manifest[] {
  const result = spawnSync('kubectl', ['kustomize', join(root, variant)], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`kubectl kustomize deploy/${variant} failed: ${result.stderr}`);
  return parseAllDocuments(result.stdout).map((document) => document.toJS() as Manifest);
}

const find = (objects: Manifest[], kind: string, name?: string): Manifest => {
  const object = objects.find((candidate) => candidate.kind === kind && (name === undefined || candidate.metadata.name === name));
  if (!object) throw new Error(`no ${kind} ${name ?? ''} rendered`);
  return object;
};

const readYaml = (...path: string[]) => parseAllDocuments(readFileSync(projectFile(...path), 'utf8')).map((document) => document.toJS() as Manifest);

describeRequiring('deploy/ rendered with kubectl kustomize', 'kubectl', commandProblem('kubectl', ['version', '--client'], "install kubectl; Debian's kubernetes-client is too old for these kustomizations"), () => {
  const rendered: Record<string, Manifest[]> = {};
  beforeAll(() => {
    for (const variant of VARIANTS) rendered[variant] = render(variant);
  });

  it.each(VARIANTS)('%s: every object validates against its schema', async (variant) => {
    const objects = rendered[variant]!;
    expect(objects.length).toBeGreaterThan(8);
    for (const object of objects) expect(await objectSchemaErrors(object), `${object.kind} ${object.metadata.name}`).toEqual([]);
  });

  it.each(['cert-manager', 'openshift'])('an overlay of your own on %s, as docs/install.md writes it, sets the image with kubectl alone', (variant) => {
    const install = readFileSync(projectFile('docs', 'install.md'), 'utf8');
    const block = /```yaml\n(apiVersion: kustomize\.config\.k8s\.io\/v1beta1\nkind: Kustomization\n[\s\S]*?)```/.exec(install)![1]!;
    expect(install).toContain('kubectl apply -k deploy/overlays/site');
    const copy = mkdtempSync(join(tmpdir(), 'vduse-deploy-'));
    cpSync(projectFile('deploy'), copy, { recursive: true });
    mkdirSync(join(copy, 'overlays', 'site'));
    writeFileSync(join(copy, 'overlays', 'site', 'kustomization.yaml'), block.replace('../cert-manager        # or ../openshift', `../${variant}`));
    const objects = render('overlays/site', copy);
    expect(find(objects, 'Deployment').spec.template.spec.containers[0].image).toBe('REGISTRY/kubevirt-vduse/webhook:0.1.0');
    // Everything else is the shipped overlay's.
    expect(objects.length).toBe(render(`overlays/${variant}`).length);
  });

  it('the monitoring component: a ServiceMonitor on the Service\'s health port, and alerts on metrics the webhook exports', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'vduse-monitoring-'));
    cpSync(projectFile('deploy'), copy, { recursive: true });
    mkdirSync(join(copy, 'overlays', 'monitored'));
    writeFileSync(join(copy, 'overlays', 'monitored', 'kustomization.yaml'), 'resources:\n  - ../cert-manager\ncomponents:\n  - ../../components/monitoring\n');
    const objects = render('overlays/monitored', copy);
    const monitor = find(objects, 'ServiceMonitor');
    const rule = find(objects, 'PrometheusRule');
    for (const object of [monitor, rule]) expect(await objectSchemaErrors(object), object.kind).toEqual([]);
    const service = find(objects, 'Service');
    expect(Object.entries(monitor.spec.selector.matchLabels).every(([key, value]) => service.metadata.labels?.[key] === value)).toBe(true);
    expect(service.spec.ports.map((port: { name: string }) => port.name)).toContain(monitor.spec.endpoints[0].port);
    // Every metric an alert reads is exported: a misspelt name would never fire.
    const exported = new Set((await createWebhookMetrics().registry.getMetricsAsJSON()).map((metric) => metric.name));
    const promql = new Set(['absent', 'sum', 'rate', 'max', 'min', 'by', 'time', 'up']);
    const alerts = rule.spec.groups[0].rules as { alert: string; expr: string }[];
    expect(alerts.map((alert) => alert.alert)).toEqual(expect.arrayContaining(['KubevirtVduseWebhookDown', 'KubevirtVduseWebhookNotReady', 'KubevirtVduseWebhookDenialsRising', 'KubevirtVduseWebhookErrors', 'KubevirtVduseWebhookCertificateExpiring']));
    for (const { alert, expr } of alerts) {
      // Label matchers, ranges, strings and grouping labels out; what is left are metrics and PromQL.
      const names = expr.replace(/\{[^}]*\}|\[[^\]]*\]|"[^"]*"|\bby\s*\([^)]*\)/g, ' ').match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? [];
      for (const name of names) expect(exported.has(name) || promql.has(name), `${alert}: ${name}`).toBe(true);
      expect(expr).toContain(`job="${service.metadata.name}"`);
    }
    expect(exported.has('vduse_webhook_certificate_expiry_timestamp_seconds')).toBe(true);
  });

  it('the schema check can fail: a misspelt field is caught', async () => {
    const deployment = structuredClone(find(rendered.base!, 'Deployment'));
    deployment.spec.replicas = 'two';
    expect(await objectSchemaErrors(deployment)).not.toEqual([]);
  });

  describe('matches the code', () => {
    it('webhook path, service, namespace and ports are the server\'s defaults', () => {
      const objects = rendered.base!;
      const configuration = find(objects, 'MutatingWebhookConfiguration');
      const service = find(objects, 'Service');
      const container = find(objects, 'Deployment').spec.template.spec.containers[0];
      const ports = Object.fromEntries(container.ports.map((port: { name: string; containerPort: number }) => [port.name, port.containerPort]));
      expect(ports).toEqual({ https: DEFAULT_WEBHOOK_PORT, health: DEFAULT_HEALTH_PORT });
      expect(container.args).toEqual(expect.arrayContaining([`--port=${DEFAULT_WEBHOOK_PORT}`, `--health-port=${DEFAULT_HEALTH_PORT}`]));
      for (const webhook of configuration.webhooks) {
        expect(webhook.clientConfig.service).toEqual({ name: service.metadata.name, namespace: service.metadata.namespace, path: MUTATE_PATH, port: 443 });
      }
      expect(service.spec.ports.find((port: { port: number }) => port.port === 443).targetPort).toBe('https');
      expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
      expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
      const policyPorts = find(objects, 'NetworkPolicy').spec.ingress[0].ports.map((port: { port: number }) => port.port);
      expect(policyPorts.sort()).toEqual([DEFAULT_HEALTH_PORT, DEFAULT_WEBHOOK_PORT].sort());
    });

    it('the webhook configuration is what the issue asks, with the label keys from api/', () => {
      const configuration = find(rendered.base!, 'MutatingWebhookConfiguration');
      expect(configuration.webhooks).toHaveLength(2);
      for (const webhook of configuration.webhooks) {
        expect(webhook).toMatchObject({ sideEffects: 'None', failurePolicy: 'Fail', matchPolicy: 'Equivalent', timeoutSeconds: 5, reinvocationPolicy: 'IfNeeded', admissionReviewVersions: ['v1'] });
        expect(webhook.rules).toEqual([
          { apiGroups: ['kubevirt.io'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['virtualmachines'], scope: 'Namespaced' },
          { apiGroups: ['kubevirt.io'], apiVersions: ['v1'], operations: ['CREATE'], resources: ['virtualmachineinstances'], scope: 'Namespaced' },
        ]);
        expect(webhook.matchConditions).toEqual([
          { name: 'not-being-deleted', expression: '!has(object.metadata.deletionTimestamp)' },
          { name: 'not-owned-by-a-vm', expression: "request.kind.kind != 'VirtualMachineInstance' || !has(object.metadata.ownerReferences) || !object.metadata.ownerReferences.exists(owner, owner.kind == 'VirtualMachine')" },
          { name: 'not-an-openshift-namespace', expression: `!request.namespace.startsWith('${SYSTEM_NAMESPACE_PREFIX}')` },
        ]);
        const excluded = webhook.namespaceSelector.matchExpressions.find((expression: { key: string }) => expression.key === 'kubernetes.io/metadata.name');
        expect(excluded).toEqual({ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...DEFAULT_CONFIG.excludedNamespaces] });
      }
      const [byNamespace, byVm] = configuration.webhooks;
      expect(byNamespace.namespaceSelector.matchExpressions).toContainEqual({ key: LABEL_NAMESPACE_POLICY, operator: 'Exists' });
      expect(byNamespace.namespaceSelector.matchExpressions).toContainEqual({ key: LABEL_NAMESPACE_POLICY, operator: 'NotIn', values: ['disabled'] });
      expect(byVm.namespaceSelector.matchExpressions).toContainEqual({ key: LABEL_NAMESPACE_POLICY, operator: 'NotIn', values: ['enabled'] });
      expect(byVm.objectSelector).toEqual({ matchExpressions: [{ key: LABEL_VM_ENABLED, operator: 'Exists' }, { key: LABEL_VM_ENABLED, operator: 'NotIn', values: ['false'] }] });
    });

    it.each([
      ['policy=enabled, a plain VM', { [LABEL_NAMESPACE_POLICY]: 'enabled' }, {}, ['namespace-policy.vduse.kubevirt.io']],
      ['policy=disabled, a plain VM: not sent, so an outage cannot touch it', { [LABEL_NAMESPACE_POLICY]: 'disabled' }, {}, []],
      ['policy=disabled, an opted-in VM: sent, to be refused with the reason', { [LABEL_NAMESPACE_POLICY]: 'disabled' }, { [LABEL_VM_ENABLED]: 'true' }, ['vm-opt-in.vduse.kubevirt.io']],
      ['no policy, an opted-in VM', {}, { [LABEL_VM_ENABLED]: 'true' }, ['vm-opt-in.vduse.kubevirt.io']],
      ['no policy, a plain VM', {}, {}, []],
      ['no policy, a VM that opts out: not sent, it opts out of nothing', {}, { [LABEL_VM_ENABLED]: 'false' }, []],
      ['no policy, a misspelt VM label: sent, to be refused with what is wrong', {}, { [LABEL_VM_ENABLED]: 'yes' }, ['vm-opt-in.vduse.kubevirt.io']],
      ['a misspelt policy, a plain VM: sent, to be refused with what is wrong', { [LABEL_NAMESPACE_POLICY]: 'enable' }, {}, ['namespace-policy.vduse.kubevirt.io']],
      // The first refuses it (a misspelt policy is refused whatever the VM says), so the second is never called.
      ['a misspelt policy, an opted-in VM: refused by the first', { [LABEL_NAMESPACE_POLICY]: 'enable' }, { [LABEL_VM_ENABLED]: 'true' }, ['namespace-policy.vduse.kubevirt.io', 'vm-opt-in.vduse.kubevirt.io']],
      ['policy=enabled in kube-system', { [LABEL_NAMESPACE_POLICY]: 'enabled', 'kubernetes.io/metadata.name': 'kube-system' }, { [LABEL_VM_ENABLED]: 'true' }, []],
    ])('sends %s to exactly the webhooks expected, by the selectors as the API server evaluates them', (_title, namespaceLabels, objectLabels, expected) => {
      const configuration = find(rendered.base!, 'MutatingWebhookConfiguration');
      const labels = { 'kubernetes.io/metadata.name': 'telco', ...namespaceLabels } as Record<string, string>;
      const sent = configuration.webhooks.filter(
        (webhook: { namespaceSelector?: LabelSelector; objectSelector?: LabelSelector }) => selects(webhook.namespaceSelector, labels) && selects(webhook.objectSelector, objectLabels),
      );
      expect(sent.map((webhook: { name: string }) => webhook.name)).toEqual(expected);
    });

    it('the config file parses with the webhook\'s own parser and agrees with the selectors and the KubeVirt patch', () => {
      const configMap = find(rendered.base!, 'ConfigMap');
      // The content hash in the name makes a config change a rollout (webhook/README.md).
      expect(configMap.metadata.name).toMatch(/^kubevirt-vduse-webhook-config-[a-z0-9]{10}$/);
      const config = parseWebhookConfig(configMap.data['config.yaml'], 'deploy/base/config.yaml');
      expect(config.excludedNamespaces).toEqual(DEFAULT_CONFIG.excludedNamespaces);
      expect(config.pluginName).toBe(DEFAULT_BINDING_PLUGIN_NAME);
      expect(config.resourceName).toBe(DEFAULT_VDUSE_RESOURCE_NAME);
      const mounted = find(rendered.base!, 'Deployment').spec.template.spec.volumes.find((volume: { name: string }) => volume.name === 'config');
      expect(mounted.configMap.name).toBe(configMap.metadata.name);
    });

    it('RBAC grants exactly get, list and watch on what the informers read, and get on what the webhook GETs', () => {
      const role = find(rendered.base!, 'ClusterRole');
      expect(role.rules).toEqual([
        { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [NAD_GROUP], resources: [NAD_PLURAL], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['kubevirt.io'], resources: ['kubevirts'], verbs: ['get', 'list', 'watch'] },
        {
          apiGroups: [INSTANCETYPE_GROUP],
          resources: ['virtualmachineinstancetypes', 'virtualmachineclusterinstancetypes', 'virtualmachinepreferences', 'virtualmachineclusterpreferences'],
          verbs: ['get'],
        },
        { apiGroups: ['apps'], resources: ['controllerrevisions'], verbs: ['get'] },
      ]);
      const binding = find(rendered.base!, 'ClusterRoleBinding');
      const account = find(rendered.base!, 'ServiceAccount');
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: account.metadata.name, namespace: account.metadata.namespace }]);
      expect(find(rendered.base!, 'Deployment').spec.template.spec.serviceAccountName).toBe(account.metadata.name);
      expect(rendered.base!.filter((object) => ['Role', 'RoleBinding'].includes(object.kind))).toEqual([]);
    });

    it('the pod runs non-root, read-only, with no capabilities, and is spread and protected', () => {
      const deployment = find(rendered.base!, 'Deployment');
      const pod = deployment.spec.template.spec;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod.containers[0].securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(pod.containers[0].resources.limits.memory).toBeDefined();
      expect(pod.containers[0].lifecycle.preStop).toBeDefined();
      expect(pod.priorityClassName).toBe('system-cluster-critical');
      expect(deployment.spec.replicas).toBe(2);
      expect(pod.topologySpreadConstraints[0].labelSelector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
      expect(find(rendered.base!, 'PodDisruptionBudget').spec).toEqual({ maxUnavailable: 1, selector: deployment.spec.selector });
    });

    it('cert-manager: a self-signed Issuer, a long-lived CA and a CA Issuer, so the caBundle outlives serving renewals', () => {
      const objects = rendered['overlays/cert-manager']!;
      const issuers = objects.filter((object) => object.kind === 'Issuer');
      const selfSigned = issuers.find((issuer) => issuer.spec.selfSigned !== undefined)!;
      const caIssuer = issuers.find((issuer) => issuer.spec.ca !== undefined)!;
      const ca = objects.find((object) => object.kind === 'Certificate' && object.spec.isCA === true)!;
      const serving = find(objects, 'Certificate', 'kubevirt-vduse-webhook');
      expect(issuers).toHaveLength(2);
      expect(ca.spec.issuerRef).toEqual({ name: selfSigned.metadata.name, kind: 'Issuer' });
      expect(caIssuer.spec.ca.secretName).toBe(ca.spec.secretName);
      expect(serving.spec.issuerRef).toEqual({ name: caIssuer.metadata.name, kind: 'Issuer' });
      expect(serving.spec.isCA).toBeUndefined();
      const hours = (duration: string) => Number(/^(\d+)h$/.exec(duration)![1]);
      expect(hours(ca.spec.duration)).toBeGreaterThanOrEqual(10 * hours(serving.spec.duration));
    });

    it('cert-manager issues the Secret the pod mounts and injects the CA', () => {
      const objects = rendered['overlays/cert-manager']!;
      const certificate = find(objects, 'Certificate', 'kubevirt-vduse-webhook');
      const service = find(objects, 'Service');
      const secret = find(objects, 'Deployment').spec.template.spec.volumes.find((volume: { name: string }) => volume.name === 'tls').secret.secretName;
      expect(certificate.spec.secretName).toBe(secret);
      expect(certificate.spec.dnsNames).toContain(`${service.metadata.name}.${service.metadata.namespace}.svc`);
      expect(find(objects, 'MutatingWebhookConfiguration').metadata.annotations).toEqual({
        'cert-manager.io/inject-ca-from': `${certificate.metadata.namespace}/${certificate.metadata.name}`,
      });
    });

    it('OpenShift\'s service CA issues the same Secret, injects the CA, and assigns the UID', () => {
      const objects = rendered['overlays/openshift']!;
      const secret = find(objects, 'Deployment').spec.template.spec.volumes.find((volume: { name: string }) => volume.name === 'tls').secret.secretName;
      expect(find(objects, 'Service').metadata.annotations).toEqual({ 'service.beta.openshift.io/serving-cert-secret-name': secret });
      expect(find(objects, 'MutatingWebhookConfiguration').metadata.annotations).toEqual({ 'service.beta.openshift.io/inject-cabundle': 'true' });
      expect(find(objects, 'Deployment').spec.template.spec.securityContext.runAsUser).toBeUndefined();
      expect(find(objects, 'Deployment').spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    });
  });
});

// KubeVirt's own release CR (kubevirt-cr.yaml): no network, no supportContainerResources, an empty gate list.
const stockKubevirt = () => ({
  apiVersion: 'kubevirt.io/v1',
  kind: 'KubeVirt',
  metadata: { name: 'kubevirt', namespace: 'kubevirt', resourceVersion: '4711' },
  spec: { certificateRotateStrategy: {}, configuration: { developerConfiguration: { featureGates: [] as string[] } }, customizeComponents: {}, imagePullPolicy: 'IfNotPresent', workloadUpdateStrategy: {} },
});

type JsonPatch = { op: string; path: string; value?: unknown }[];
type KubevirtCr = ReturnType<typeof stockKubevirt> & { metadata: { annotations?: Record<string, string> } };

function jq(file: string, input: unknown, args: string[] = []): { status: number | null; patch: JsonPatch; stderr: string } {
  const result = spawnSync('jq', ['-c', ...(input === undefined ? ['-n'] : []), '-f', projectFile('deploy', 'kubevirt', file), ...args], { input: input === undefined ? undefined : JSON.stringify(input), encoding: 'utf8' });
  return { status: result.status, patch: result.status === 0 ? (JSON.parse(result.stdout) as JsonPatch) : [], stderr: result.stderr };
}

/** What kubectl patch --type json does on the server: all operations, or none. */
function patched<T>(cr: T, patch: JsonPatch): T {
  const copy = structuredClone(cr);
  const errors = applyPatch(copy, patch as never);
  if (errors.some((error) => error !== null)) throw new Error(`the patch does not apply: ${errors.map(String).join('; ')}`);
  return copy;
}

const IMAGE = 'REGISTRY/kubevirt-vduse/sidecar:0.1.0';
const register = (cr: unknown, image = IMAGE) => {
  const result = jq('register-vduse.jq', cr, ['--arg', 'image', image]);
  expect(result.status, result.stderr).toBe(0);
  return result.patch;
};
const unregister = (cr: unknown) => {
  const result = jq('unregister-vduse.jq', cr);
  expect(result.status, result.stderr).toBe(0);
  return result.patch;
};
/** register, then unregister, each on the CR as the previous step left it (the server bumps resourceVersion). */
const registerThenUnregister = (before: KubevirtCr, images = [IMAGE]) => {
  let cr = before;
  for (const image of images) {
    const next = patched(cr, register(cr, image));
    cr = { ...next, metadata: { ...next.metadata, resourceVersion: `after ${image}` } };
  }
  return { registered: cr, after: patched(cr, unregister(cr)) };
};
const withoutVersion = (cr: KubevirtCr) => ({ ...cr, metadata: { ...cr.metadata, resourceVersion: undefined } });

describeRequiring('deploy/kubevirt: the registration, computed from the live KubeVirt CR with jq', 'jq', commandProblem('jq', ['--version'], 'Debian: jq'), () => {
  it('applies to a stock KubeVirt CR: both bindings (the -cloudinit image for vduse-cloudinit), the gate, the sidecar memory, and the record', () => {
    const cr = patched(stockKubevirt(), register(stockKubevirt())) as KubevirtCr & { spec: { configuration: Record<string, unknown> } };
    const registration = (sidecarImage: string) => ({ sidecarImage, downwardAPI: 'device-info', migration: {} });
    expect(cr.spec.configuration.network).toEqual({
      binding: { [DEFAULT_BINDING_PLUGIN_NAME]: registration(IMAGE), [cloudInitBindingName(DEFAULT_BINDING_PLUGIN_NAME)]: registration('REGISTRY/kubevirt-vduse/sidecar-cloudinit:0.1.0') },
    });
    expect(cr.spec.configuration.developerConfiguration).toEqual({ featureGates: ['ReservedOverheadMemlock'] });
    expect(cr.spec.configuration.supportContainerResources).toEqual([{ type: 'sidecar', resources: { limits: { memory: SIDECAR_MEMORY_LIMIT } } }]);
    expect(JSON.parse(cr.metadata.annotations!['vduse.kubevirt.io/registration']!)).toMatchObject({ featureGate: 'added', sidecarMemory: 'added', createdAnnotations: true });
    expect(schemaErrors('v1.KubeVirt', cr)).toEqual([]);
  });

  it('applies to a CR with no configuration at all, and to one with the gate already there, which it does not add twice', () => {
    const bare = { ...stockKubevirt(), spec: {} };
    expect((patched(bare, register(bare)).spec as { configuration: { developerConfiguration: unknown } }).configuration.developerConfiguration).toEqual({ featureGates: ['ReservedOverheadMemlock'] });
    const gated = stockKubevirt();
    gated.spec.configuration.developerConfiguration.featureGates = ['Snapshot', 'ReservedOverheadMemlock', 'HotplugVolumes'];
    expect(patched(gated, register(gated)).spec.configuration.developerConfiguration.featureGates).toEqual(['Snapshot', 'ReservedOverheadMemlock', 'HotplugVolumes']);
  });

  it('applied again with a new image (the upgrade) changes only the images: one gate, one sidecar entry, the first record kept', () => {
    const { registered } = registerThenUnregister(stockKubevirt(), [IMAGE, 'REGISTRY/kubevirt-vduse/sidecar:0.2.0']);
    const configuration = registered.spec.configuration as unknown as { network: { binding: Record<string, { sidecarImage: string }> }; developerConfiguration: { featureGates: string[] }; supportContainerResources: unknown[] };
    expect(Object.values(configuration.network.binding).map((binding) => binding.sidecarImage)).toEqual(['REGISTRY/kubevirt-vduse/sidecar:0.2.0', 'REGISTRY/kubevirt-vduse/sidecar-cloudinit:0.2.0']);
    expect(configuration.developerConfiguration.featureGates).toEqual(['ReservedOverheadMemlock']);
    expect(configuration.supportContainerResources).toHaveLength(1);
    expect(JSON.parse(registered.metadata.annotations!['vduse.kubevirt.io/registration']!)).toMatchObject({ featureGate: 'added', sidecarMemory: 'added' });
  });

  it.each([
    ['a stock CR', (cr: KubevirtCr) => cr],
    ['a CR whose gate was there before', (cr: KubevirtCr) => ({ ...cr, spec: { ...cr.spec, configuration: { developerConfiguration: { featureGates: ['ReservedOverheadMemlock'] } } } })],
    ['a CR with other bindings, gates and annotations', (cr: KubevirtCr) => ({
      ...cr,
      metadata: { ...cr.metadata, annotations: { owner: 'platform' } },
      spec: { ...cr.spec, configuration: { network: { binding: { passt: { sidecarImage: 'passt-binding:1.7', migration: {} } } }, developerConfiguration: { featureGates: ['Snapshot'] }, supportContainerResources: [{ type: 'virtLauncher', resources: { limits: { memory: '1Gi' } } }] } as never },
    })],
    ['a CR whose sidecar limit was smaller (raised, then set back)', (cr: KubevirtCr) => ({ ...cr, spec: { ...cr.spec, configuration: { supportContainerResources: [{ type: 'sidecar', resources: { limits: { memory: '64Mi' } } }] } as never } })],
    ['a CR whose sidecar limit was larger (kept)', (cr: KubevirtCr) => ({ ...cr, spec: { ...cr.spec, configuration: { supportContainerResources: [{ type: 'sidecar', resources: { limits: { memory: '256Mi' } } }] } as never } })],
  ])('unregister-vduse.jq takes back exactly what the registration added, even after an upgrade: %s', (_title, shape) => {
    const before = shape(stockKubevirt());
    for (const images of [[IMAGE], [IMAGE, 'REGISTRY/kubevirt-vduse/sidecar:0.2.0']]) {
      const { registered, after } = registerThenUnregister(before, images);
      expect(registered).not.toEqual(before);
      expect(withoutVersion(after)).toEqual(withoutVersion(before));
    }
  });

  it('raises a smaller sidecar limit to the shipped one and keeps a larger one', () => {
    const small = { ...stockKubevirt(), spec: { configuration: { supportContainerResources: [{ type: 'sidecar', resources: { limits: { memory: '64M' } } }] } } };
    expect(patched(small, register(small)).spec.configuration.supportContainerResources).toEqual([{ type: 'sidecar', resources: { limits: { memory: SIDECAR_MEMORY_LIMIT } } }]);
    const large = { ...stockKubevirt(), spec: { configuration: { supportContainerResources: [{ type: 'sidecar', resources: { limits: { memory: '1G' } } }] } } };
    expect(patched(large, register(large)).spec.configuration.supportContainerResources).toEqual([{ type: 'sidecar', resources: { limits: { memory: '1G' } } }]);
  });

  it('tests the resourceVersion first: on a CR that changed since it was read, the patch fails whole', () => {
    const patch = register(stockKubevirt());
    expect(patch[0]).toEqual({ op: 'test', path: '/metadata/resourceVersion', value: '4711' });
    expect(() => patched({ ...stockKubevirt(), metadata: { ...stockKubevirt().metadata, resourceVersion: '4712' } }, patch)).toThrow();
  });

  it('needs the image, and the cloud-init image too when the image is pinned by digest', () => {
    expect(jq('register-vduse.jq', stockKubevirt()).stderr).toContain('give the sidecar image: --arg image REGISTRY/kubevirt-vduse/sidecar:VERSION');
    expect(jq('register-vduse.jq', stockKubevirt(), ['--arg', 'image', 'REGISTRY/kubevirt-vduse/sidecar@sha256:0123']).stderr).toContain('pinned by digest; give the cloud-init image');
    const pinned = jq('register-vduse.jq', stockKubevirt(), ['--arg', 'image', 'R/s@sha256:01', '--arg', 'cloudinitImage', 'R/c@sha256:02']);
    expect(JSON.stringify(pinned.patch)).toContain('"sidecarImage":"R/c@sha256:02"');
  });

  it('ships a sidecar memory limit of at least 1.5 times the measured minimum, a multiple of 16M, above KubeVirt\'s 64M, the same in jq and in api/', () => {
    expect(SIDECAR_MEMORY_LIMIT_BYTES).toBeGreaterThanOrEqual(1.5 * SIDECAR_MEMORY_MINIMUM_BYTES);
    expect(SIDECAR_MEMORY_LIMIT_BYTES % 16_000_000).toBe(0);
    expect(SIDECAR_MEMORY_LIMIT_BYTES).toBeGreaterThan(KUBEVIRT_DEFAULT_SIDECAR_MEMORY_BYTES);
    expect(readFileSync(projectFile('deploy', 'kubevirt', 'bindings.jq'), 'utf8')).toContain(`def sidecar_memory_limit: "${SIDECAR_MEMORY_LIMIT}";`);
    expect(readFileSync(projectFile('deploy', 'kubevirt', 'README.md'), 'utf8')).toContain(`memory limit of \`${SIDECAR_MEMORY_LIMIT}\``);
  });

  it('the commands the docs give are the ones tested here', () => {
    const install = readFileSync(projectFile('docs', 'install.md'), 'utf8');
    const readme = readFileSync(projectFile('deploy', 'kubevirt', 'README.md'), 'utf8');
    const registration = 'kubectl patch kubevirt kubevirt -n kubevirt --type json -p "$(kubectl get kubevirt kubevirt -n kubevirt -o json \\\n  | jq -c -f deploy/kubevirt/register-vduse.jq --arg image REGISTRY/kubevirt-vduse/sidecar:';
    for (const page of [install, readme]) expect(page).toContain(registration);
    expect(install).toContain('-p "$(kubectl get kubevirt kubevirt -n kubevirt -o json | jq -c -f deploy/kubevirt/unregister-vduse.jq)"');
    expect(readme).toContain('-p "$(jq -n -c -f deploy/kubevirt/hco/networkbinding.jq --arg image REGISTRY/kubevirt-vduse/sidecar:0.1.0)"');
    expect(install).not.toMatch(/\bsed -i\b/);
  });

  it("HyperConverged: both HCO forms carry the KubeVirt registration's bindings", () => {
    const bindings = (patched(stockKubevirt(), register(stockKubevirt())).spec.configuration as unknown as { network: { binding: unknown } }).network.binding;
    expect((jq('hco/networkbinding.jq', undefined, ['--arg', 'image', IMAGE]).patch as unknown as { spec: { networking: { networkBinding: unknown } } }).spec.networking.networkBinding).toEqual(bindings);
    expect((jq('hco/networkbinding.jq', undefined, ['--arg', 'image', IMAGE, '--arg', 'hco', 'before-1.18']).patch as unknown as { spec: { networkBinding: unknown } }).spec.networkBinding).toEqual(bindings);
    expect(jq('hco/networkbinding.jq', undefined, ['--arg', 'image', IMAGE, '--arg', 'hco', '1.17']).stderr).toContain('--arg hco is 1.18');
  });
});

// A HyperConverged CR as `oc get hyperconverged -o json` prints it, with the annotations given.
const hyperConverged = (annotations?: Record<string, string>) => ({
  apiVersion: 'hco.kubevirt.io/v1',
  kind: 'HyperConverged',
  metadata: { name: 'kubevirt-hyperconverged', namespace: 'openshift-cnv', resourceVersion: '815', ...(annotations ? { annotations } : {}) },
  spec: { virtualization: { liveMigrationConfig: { parallelMigrationsPerCluster: 5 } } },
});
type HyperConvergedCr = ReturnType<typeof hyperConverged>;
const JSONPATCH = 'kubevirt.kubevirt.io/jsonpatch';
const RECORD = 'vduse.kubevirt.io/registration';
const withJsonPatch = (operations: JsonPatch, others: Record<string, string> = {}) => hyperConverged({ ...others, [JSONPATCH]: JSON.stringify(operations) });

/**
 * The KubeVirt CR HCO writes, modelled: its own feature gates and no supportContainerResources,
 * then the annotation's operations applied last. The OpenShift Virtualization cluster suite
 * (test/cluster/hco.test.ts) holds the same programs to HCO's own NewKubeVirt.
 */
function hcoKubevirt(hc: { metadata: { annotations?: Record<string, string> } }) {
  const generated = { ...stockKubevirt(), spec: { configuration: { developerConfiguration: { featureGates: ['CPUManager', 'Snapshot'] }, network: { binding: { l2bridge: { domainAttachmentType: 'managedTap', migration: {} } } } } } };
  const annotation = hc.metadata.annotations?.[JSONPATCH];
  return annotation === undefined ? generated : patched(generated, JSON.parse(annotation) as JsonPatch);
}
const configurationOf = (kubevirt: ReturnType<typeof hcoKubevirt>) => kubevirt.spec.configuration as { developerConfiguration: { featureGates: string[] }; supportContainerResources?: unknown[] };

const hcoProgram = (file: string) => (hc: unknown) => {
  const result = jq(`hco/${file}`, hc);
  expect(result.status, result.stderr).toBe(0);
  return result.patch;
};
const registerHco = hcoProgram('register-jsonpatch.jq');
const unregisterHco = hcoProgram('unregister-jsonpatch.jq');
/** The program's patch applied as the API server does, which then bumps the resourceVersion. */
const applied = (hc: HyperConvergedCr, patch: JsonPatch, version: string): HyperConvergedCr => {
  const next = patched(hc, patch);
  return { ...next, metadata: { ...next.metadata, resourceVersion: version } };
};
const withoutResourceVersion = (hc: HyperConvergedCr) => ({ ...hc, metadata: { ...hc.metadata, resourceVersion: undefined } });
const sidecarEntry = (memory: string) => ({ type: 'sidecar', resources: { limits: { memory } } });
/** The CR with someone else's operation appended to the annotation. */
const withOperationAppended = (hc: HyperConvergedCr, operation: JsonPatch[number]): HyperConvergedCr => ({
  ...hc,
  metadata: { ...hc.metadata, annotations: { ...hc.metadata.annotations, [JSONPATCH]: JSON.stringify([...(JSON.parse(hc.metadata.annotations![JSONPATCH]!) as JsonPatch), operation]) } },
});

describeRequiring("deploy/kubevirt/hco: HCO's jsonpatch annotation, computed from the live HyperConverged CR with jq", 'jq', commandProblem('jq', ['--version']), () => {
  it('on a HyperConverged CR without the annotation: the gate and the sidecar memory, applied after HCO\'s own gates, and the record', () => {
    const hc = applied(hyperConverged(), registerHco(hyperConverged()), '816');
    const operations = JSON.parse(hc.metadata.annotations![JSONPATCH]!) as JsonPatch;
    expect(operations).toEqual([
      { op: 'add', path: '/spec/configuration/developerConfiguration/featureGates/-', value: 'ReservedOverheadMemlock' },
      { op: 'add', path: '/spec/configuration/supportContainerResources', value: [sidecarEntry(SIDECAR_MEMORY_LIMIT)] },
    ]);
    const configuration = configurationOf(hcoKubevirt(hc));
    expect(configuration.developerConfiguration.featureGates).toEqual(['CPUManager', 'Snapshot', 'ReservedOverheadMemlock']);
    expect(configuration.supportContainerResources).toEqual([sidecarEntry(SIDECAR_MEMORY_LIMIT)]);
    expect(JSON.parse(hc.metadata.annotations![RECORD]!)).toEqual({ operations, featureGate: 'added', sidecarMemory: 'added', createdAnnotation: true, createdAnnotations: true });
    expect(schemaErrors('v1.KubeVirt', hcoKubevirt(hc))).toEqual([]);
  });

  it('merges with operations already there: theirs first and unchanged, a smaller sidecar limit raised, other containers\' entries kept', () => {
    const theirs: JsonPatch = [
      { op: 'add', path: '/spec/configuration/cpuModel', value: 'Haswell-noTSX' },
      { op: 'add', path: '/spec/configuration/supportContainerResources', value: [{ type: 'virtLauncher', resources: { limits: { memory: '1Gi' } } }, sidecarEntry('64Mi')] },
    ];
    const hc = applied(withJsonPatch(theirs), registerHco(withJsonPatch(theirs)), '816');
    const operations = JSON.parse(hc.metadata.annotations![JSONPATCH]!) as JsonPatch;
    expect(operations.slice(0, 2)).toEqual(theirs);
    expect(operations.slice(2)).toEqual([
      { op: 'add', path: '/spec/configuration/developerConfiguration/featureGates/-', value: 'ReservedOverheadMemlock' },
      { op: 'replace', path: '/spec/configuration/supportContainerResources/1/resources/limits/memory', value: SIDECAR_MEMORY_LIMIT },
    ]);
    expect(configurationOf(hcoKubevirt(hc)).supportContainerResources).toEqual([{ type: 'virtLauncher', resources: { limits: { memory: '1Gi' } } }, sidecarEntry(SIDECAR_MEMORY_LIMIT)]);
    expect(JSON.parse(hc.metadata.annotations![RECORD]!)).toMatchObject({ sidecarMemory: { raisedFrom: '64Mi' }, createdAnnotation: false });
  });

  const GATE_OPERATION = { op: 'add', path: '/spec/configuration/developerConfiguration/featureGates/-', value: 'ReservedOverheadMemlock' };
  it.each([
    ['the gate, by an operation that appends it', [GATE_OPERATION], ['/spec/configuration/supportContainerResources']],
    ['the gate, in a developerConfiguration written whole', [{ op: 'replace', path: '/spec/configuration/developerConfiguration', value: { featureGates: ['Snapshot', 'ReservedOverheadMemlock'] } }], ['/spec/configuration/supportContainerResources']],
    ['a larger sidecar limit, appended to entries of their own', [{ op: 'add', path: '/spec/configuration/supportContainerResources', value: [] }, { op: 'add', path: '/spec/configuration/supportContainerResources/-', value: sidecarEntry('256Mi') }], [GATE_OPERATION.path]],
  ])('adds nothing twice: with %s already in the annotation', (_title, theirs, ourPaths) => {
    const hc = applied(withJsonPatch(theirs), registerHco(withJsonPatch(theirs)), '816');
    const configuration = configurationOf(hcoKubevirt(hc));
    expect(configuration.developerConfiguration.featureGates.filter((gate) => gate === 'ReservedOverheadMemlock')).toHaveLength(1);
    expect((configuration.supportContainerResources ?? []).filter((entry) => (entry as { type: string }).type === 'sidecar')).toHaveLength(1);
    expect((JSON.parse(hc.metadata.annotations![RECORD]!) as { operations: JsonPatch }).operations.map((operation) => operation.path)).toEqual(ourPaths);
  });

  it('adds a sidecar entry with "-" to a list of other containers\' entries', () => {
    const theirs: JsonPatch = [{ op: 'add', path: '/spec/configuration/supportContainerResources', value: [{ type: 'guestConsoleLog', resources: { limits: { cpu: '50m' } } }] }];
    const hc = applied(withJsonPatch(theirs), registerHco(withJsonPatch(theirs)), '816');
    expect(configurationOf(hcoKubevirt(hc)).supportContainerResources).toEqual([{ type: 'guestConsoleLog', resources: { limits: { cpu: '50m' } } }, sidecarEntry(SIDECAR_MEMORY_LIMIT)]);
  });

  it('applied again (an upgrade) changes nothing, and reckons with operations the others changed meanwhile', () => {
    const once = applied(hyperConverged(), registerHco(hyperConverged()), '816');
    const twice = applied(once, registerHco(once), '817');
    expect(withoutResourceVersion(twice)).toEqual(withoutResourceVersion(once));
    // Someone sets every support container's resources after us, sidecars at 512Mi: applied again, only the gate is ours.
    const theirs = { op: 'add', path: '/spec/configuration/supportContainerResources', value: [{ type: 'virtLauncher', resources: { limits: { memory: '2Gi' } } }, sidecarEntry('512Mi')] };
    const changed = withOperationAppended(twice, theirs);
    const again = applied(changed, registerHco(changed), '818');
    expect(JSON.parse(again.metadata.annotations![JSONPATCH]!)).toEqual([theirs, GATE_OPERATION]);
    expect(configurationOf(hcoKubevirt(again)).supportContainerResources).toEqual(theirs.value);
    expect(JSON.parse(again.metadata.annotations![RECORD]!)).toMatchObject({ operations: [GATE_OPERATION], sidecarMemory: 'present', createdAnnotation: true, createdAnnotations: true });
  });

  it.each([
    ['no annotations at all', hyperConverged()],
    ['other annotations, none of HCO\'s', hyperConverged({ 'example.com/owner': 'platform' })],
    ['an empty jsonpatch annotation', hyperConverged({ [JSONPATCH]: '[]' })],
    ['operations of others, a smaller sidecar limit among them', withJsonPatch([{ op: 'add', path: '/spec/configuration/supportContainerResources', value: [{ type: 'virtLauncher', resources: { limits: { memory: '1Gi' } } }, sidecarEntry('64Mi')] }])],
    ['the gate and a larger sidecar limit already there (nothing to add)', withJsonPatch([{ op: 'add', path: '/spec/configuration/developerConfiguration/featureGates/-', value: 'ReservedOverheadMemlock' }, { op: 'add', path: '/spec/configuration/supportContainerResources', value: [sidecarEntry('1G')] }])],
  ])('unregister-jsonpatch.jq takes back exactly what the registration added, applied once or twice: %s', (_title, before) => {
    for (const runs of [1, 2]) {
      let hc = before;
      for (let run = 0; run < runs; run++) hc = applied(hc, registerHco(hc), `after run ${run}`);
      expect(hc.metadata.annotations?.[RECORD]).toBeDefined();
      const after = applied(hc, unregisterHco(hc), 'after unregister');
      expect(withoutResourceVersion(after)).toEqual(withoutResourceVersion(before));
      expect(hcoKubevirt(after)).toEqual(hcoKubevirt(before));
    }
  });

  it('unregister-jsonpatch.jq keeps what the others added to the annotation after the registration, and refuses to leave them an operation that needs ours', () => {
    const registered = applied(hyperConverged(), registerHco(hyperConverged()), '816');
    const theirs = { op: 'add', path: '/spec/configuration/cpuModel', value: 'Haswell-noTSX' };
    const after = applied(withOperationAppended(registered, theirs), unregisterHco(withOperationAppended(registered, theirs)), '817');
    expect(after.metadata.annotations).toEqual({ [JSONPATCH]: JSON.stringify([theirs]) });
    // An entry appended with "-" to the list our operation created: without ours, HCO could not apply it.
    const dependent = withOperationAppended(registered, { op: 'add', path: '/spec/configuration/supportContainerResources/-', value: { type: 'virtLauncher', resources: { limits: { memory: '2Gi' } } } });
    const refused = jq('hco/unregister-jsonpatch.jq', dependent);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('"path":"/spec/configuration/supportContainerResources/-"');
    expect(refused.stderr).toContain('does not apply without the operations before it: nothing is at /spec/configuration/supportContainerResources');
  });

  it('tests the resourceVersion first, and refuses an annotation that is not a JSON Patch with the CR, the annotation, the value and what it expects', () => {
    expect(registerHco(hyperConverged())[0]).toEqual({ op: 'test', path: '/metadata/resourceVersion', value: '815' });
    for (const file of ['register-jsonpatch.jq', 'unregister-jsonpatch.jq']) {
      const result = jq(`hco/${file}`, hyperConverged({ [JSONPATCH]: '{"op":"add"}' }));
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain('HyperConverged openshift-cnv/kubevirt-hyperconverged: annotation kubevirt.kubevirt.io/jsonpatch: got "{\\"op\\":\\"add\\"}"; expected a JSON array of JSON Patch operations');
    }
  });

  it('the HCO commands the docs give are the ones tested here, and the docs show what OpenShift users sign up for', () => {
    const readme = readFileSync(projectFile('deploy', 'kubevirt', 'README.md'), 'utf8');
    const install = readFileSync(projectFile('docs', 'install.md'), 'utf8');
    expect(readme).toContain('-p "$(jq -n -c -f deploy/kubevirt/hco/networkbinding.jq --arg image REGISTRY/kubevirt-vduse/sidecar:0.1.0)"');
    expect(readme).toContain('kubevirt-hyperconverged -n openshift-cnv -o json | jq -c -f deploy/kubevirt/hco/register-jsonpatch.jq)"');
    expect(install).toContain('kubevirt-hyperconverged -n openshift-cnv -o json | jq -c -f deploy/kubevirt/hco/unregister-jsonpatch.jq)"');
    for (const word of ['openshift-cnv', 'kubevirt-hyperconverged', 'TaintedConfiguration', 'UnsupportedFeatureAnnotation', 'Alpha']) expect(readme).toContain(word);
  });
});

describe('deploy/examples', () => {
  const examples = Object.fromEntries(
    [...readdirSync(projectFile('deploy', 'examples')).filter((file) => file.endsWith('.yaml')), 'render/vmi.yaml'].map((file) => [file, readYaml('deploy', 'examples', file)[0]!]),
  );

  it('every object validates: KubeVirt against swagger.json, the rest against kubernetes-models', async () => {
    for (const [file, object] of Object.entries(examples)) {
      if (object.kind === 'NetworkAttachmentDefinition') continue;
      expect(await objectSchemaErrors(object), file).toEqual([]);
    }
  });

  it('the NetworkAttachmentDefinition names the VDUSE resource and carries a CNI config in JSON', () => {
    const nad = examples['network-attachment-definition.yaml']!;
    expect(nad.metadata.annotations?.[NAD_RESOURCE_NAME_ANNOTATION]).toBe(DEFAULT_VDUSE_RESOURCE_NAME);
    expect(() => JSON.parse(nad.spec.config as string) as unknown).not.toThrow();
  });

  it('the plain VM has no VDUSE label, annotation or binding in it, and the webhook converts it in the example Namespace', () => {
    const plain = examples['vm-plain.yaml']! as unknown as VirtualMachine;
    expect(JSON.stringify(plain)).not.toContain('vduse.kubevirt.io');
    expect(JSON.stringify(plain)).not.toContain('"binding"');
    const namespace = examples['namespace.yaml']!;
    const nad = examples['network-attachment-definition.yaml']!;
    const decision = decideFor(plain, {
      namespace: namespace.metadata.name,
      namespaceLabels: namespace.metadata.labels,
      nads: { [nad.metadata.name]: nad.metadata.annotations![NAD_RESOURCE_NAME_ANNOTATION]! },
    });
    expect(decision).toMatchObject({ allowed: true, outcome: 'mutated', interfaces: ['dataplane'] });
    const mutated = applyIndependently(plain, decision.patch);
    expect(schemaErrors('v1.VirtualMachine', mutated)).toEqual([]);
  });

  it('the explicit VM is admitted as written, with its own tuning', () => {
    const explicit = examples['vm-explicit-binding.yaml']! as unknown as VirtualMachine;
    const decision = decideFor(explicit, { namespace: 'telco', nads: {} });
    expect(decision).toMatchObject({ allowed: true, interfaces: ['dataplane'] });
    const mutated = applyIndependently(explicit, decision.patch);
    expect(mutated.spec.template.metadata?.annotations).toMatchObject({ 'vduse.kubevirt.io/rx-queue-size': '512', 'vduse.kubevirt.io/coalesce': 'adaptive-rx,rx-usecs=64' });
  });

  it('examples parse as single YAML documents', () => {
    for (const file of Object.keys(examples)) expect(() => parseYaml(readFileSync(projectFile('deploy', 'examples', file), 'utf8')) as unknown).not.toThrow();
  });
});
