// deploy/: rendered by kubectl kustomize, every object checked against its schema, and held
// against the code so nothing drifts (paths, ports, names, label keys, plugin name, RBAC).
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyPatch } from 'rfc6902';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import type { VirtualMachine } from '../../api/kubevirt.ts';
import { KUBEVIRT_DEFAULT_SIDECAR_MEMORY_BYTES, SIDECAR_MEMORY_LIMIT, SIDECAR_MEMORY_LIMIT_BYTES, SIDECAR_MEMORY_MINIMUM_BYTES } from '../../api/sidecar-resources.ts';
import { cloudInitBindingName, DEFAULT_BINDING_PLUGIN_NAME, DEFAULT_VDUSE_RESOURCE_NAME, LABEL_NAMESPACE_POLICY, LABEL_VM_ENABLED, NAD_RESOURCE_NAME_ANNOTATION } from '../../api/names.ts';
import { NAD_GROUP, NAD_PLURAL } from '../../webhook/cluster-cache.ts';
import { INSTANCETYPE_GROUP } from '../../webhook/instancetypes.ts';
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

describeRequiring('deploy/ rendered with kubectl kustomize', 'kubectl', commandProblem('kubectl', ['version', '--client']), () => {
  const rendered: Record<string, Manifest[]> = {};
  beforeAll(() => {
    for (const variant of VARIANTS) rendered[variant] = render(variant);
  });

  it.each(VARIANTS)('%s: every object validates against its schema', async (variant) => {
    const objects = rendered[variant]!;
    expect(objects.length).toBeGreaterThan(8);
    for (const object of objects) expect(await objectSchemaErrors(object), `${object.kind} ${object.metadata.name}`).toEqual([]);
  });

  it.each(['overlays/cert-manager', 'overlays/openshift'])('%s: the image override the docs give reaches the Deployment', (variant) => {
    // What `kustomize edit set image NAME=IMAGE` writes into the overlay, for the command docs/install.md gives.
    const command = /kustomize edit set image (\S+)=(\S+):(\S+)/.exec(readFileSync(projectFile('docs', 'install.md'), 'utf8'))!;
    const [, name, newName, newTag] = command;
    const copy = mkdtempSync(join(tmpdir(), 'vduse-deploy-'));
    cpSync(projectFile('deploy'), copy, { recursive: true });
    appendFileSync(join(copy, variant, 'kustomization.yaml'), `images:\n  - name: ${name!}\n    newName: ${newName!}\n    newTag: ${newTag!}\n`);
    const container = find(render(variant, copy), 'Deployment').spec.template.spec.containers[0];
    expect(container.image).toBe(`${newName!}:${newTag!}`);
    expect(newName).toBe('REGISTRY/kubevirt-vduse/webhook');
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
      expect(byNamespace.namespaceSelector.matchExpressions).toContainEqual({ key: LABEL_NAMESPACE_POLICY, operator: 'In', values: ['enabled'] });
      expect(byVm.namespaceSelector.matchExpressions).toContainEqual({ key: LABEL_NAMESPACE_POLICY, operator: 'NotIn', values: ['enabled'] });
      expect(byVm.objectSelector).toEqual({ matchLabels: { [LABEL_VM_ENABLED]: 'true' } });
    });

    it.each([
      ['policy=enabled, a plain VM', { [LABEL_NAMESPACE_POLICY]: 'enabled' }, {}, ['namespace-policy.vduse.kubevirt.io']],
      ['policy=disabled, a plain VM: not sent, so an outage cannot touch it', { [LABEL_NAMESPACE_POLICY]: 'disabled' }, {}, []],
      ['policy=disabled, an opted-in VM: sent, to be refused with the reason', { [LABEL_NAMESPACE_POLICY]: 'disabled' }, { [LABEL_VM_ENABLED]: 'true' }, ['vm-opt-in.vduse.kubevirt.io']],
      ['no policy, an opted-in VM', {}, { [LABEL_VM_ENABLED]: 'true' }, ['vm-opt-in.vduse.kubevirt.io']],
      ['no policy, a plain VM', {}, {}, []],
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

describe('deploy/kubevirt: the KubeVirt CR patch', () => {
  const patch = JSON.parse(readFileSync(projectFile('deploy', 'kubevirt', 'register-vduse.json'), 'utf8')) as { op: string; path: string; value: unknown }[];
  const kubevirt = () => ({
    apiVersion: 'kubevirt.io/v1',
    kind: 'KubeVirt',
    metadata: { name: 'kubevirt', namespace: 'kubevirt' },
    spec: {
      configuration: {
        network: { binding: { passt: { sidecarImage: 'passt-binding:1.7', migration: { method: 'link-refresh' } } } },
        developerConfiguration: { featureGates: ['Snapshot', 'HotplugVolumes'] },
      },
    },
  });

  it('registers both bindings with one image, appends the feature gate and the sidecar memory limit, keeping what was there', () => {
    const cr = kubevirt();
    (cr.spec.configuration as Record<string, unknown>).supportContainerResources = [];
    expect(applyPatch(cr, patch as never).every((error) => error === null)).toBe(true);
    const registration = { sidecarImage: expect.any(String) as string, downwardAPI: 'device-info', migration: {} };
    expect(cr.spec.configuration.network.binding).toEqual({
      passt: { sidecarImage: 'passt-binding:1.7', migration: { method: 'link-refresh' } },
      [DEFAULT_BINDING_PLUGIN_NAME]: registration,
      [cloudInitBindingName(DEFAULT_BINDING_PLUGIN_NAME)]: registration,
    });
    const bindings = cr.spec.configuration.network.binding as Record<string, { sidecarImage: string }>;
    expect(bindings[DEFAULT_BINDING_PLUGIN_NAME]!.sidecarImage).toBe(bindings[cloudInitBindingName(DEFAULT_BINDING_PLUGIN_NAME)]!.sidecarImage);
    expect(cr.spec.configuration.developerConfiguration.featureGates).toEqual(['Snapshot', 'HotplugVolumes', 'ReservedOverheadMemlock']);
    expect((cr.spec.configuration as Record<string, unknown>).supportContainerResources).toEqual([{ type: 'sidecar', resources: { limits: { memory: SIDECAR_MEMORY_LIMIT } } }]);
    expect(schemaErrors('v1.KubeVirt', cr)).toEqual([]);
  });

  it('ships a sidecar memory limit of at least 1.5 times the measured minimum, a multiple of 16M, above KubeVirt\'s 64M', () => {
    expect(SIDECAR_MEMORY_LIMIT_BYTES).toBeGreaterThanOrEqual(1.5 * SIDECAR_MEMORY_MINIMUM_BYTES);
    expect(SIDECAR_MEMORY_LIMIT_BYTES % 16_000_000).toBe(0);
    expect(SIDECAR_MEMORY_LIMIT_BYTES).toBeGreaterThan(KUBEVIRT_DEFAULT_SIDECAR_MEMORY_BYTES);
    expect(readFileSync(projectFile('deploy', 'kubevirt', 'README.md'), 'utf8')).toContain(`memory limit of \`${SIDECAR_MEMORY_LIMIT}\``);
  });

  it('unregister-vduse.jq computes the reverse patch from the live CR: the CR is as it was before', () => {
    const before = kubevirt();
    (before.spec.configuration as Record<string, unknown>).supportContainerResources = [{ type: 'virtLauncher', resources: { limits: { memory: '1Gi' } } }];
    const cr = structuredClone(before);
    expect(applyPatch(cr, patch as never).every((error) => error === null)).toBe(true);
    const jq = spawnSync('jq', ['-c', '-f', projectFile('deploy', 'kubevirt', 'unregister-vduse.jq')], { input: JSON.stringify(cr), encoding: 'utf8' });
    expect(jq.status, jq.stderr).toBe(0);
    expect(applyPatch(cr, JSON.parse(jq.stdout) as never).every((error) => error === null)).toBe(true);
    expect(cr).toEqual(before);
  });

  it('uses an append, not a replacement, for the feature gate list', () => {
    expect(patch.find((operation) => operation.path.includes('featureGates'))).toEqual({ op: 'add', path: '/spec/configuration/developerConfiguration/featureGates/-', value: 'ReservedOverheadMemlock' });
  });

  it("the sed command the README gives sets the sidecar image of both bindings", () => {
    const command = /^sed -i '([^']+)' (deploy\/kubevirt\/.+)$/m.exec(readFileSync(projectFile('deploy', 'kubevirt', 'README.md'), 'utf8'))!;
    const copy = mkdtempSync(join(tmpdir(), 'vduse-register-'));
    cpSync(projectFile('deploy'), join(copy, 'deploy'), { recursive: true });
    const files = command[2]!.split(' ');
    expect(files.sort()).toEqual(['deploy/kubevirt/hco/networkbinding-hco-1.18.json', 'deploy/kubevirt/hco/networkbinding-hco-before-1.18.json', 'deploy/kubevirt/register-vduse.json']);
    expect(spawnSync('sed', ['-i', command[1]!, ...files], { cwd: copy }).status).toBe(0);
    const edited = JSON.parse(readFileSync(join(copy, 'deploy/kubevirt/register-vduse.json'), 'utf8')) as { path: string; value: { sidecarImage?: string } }[];
    const images = edited.filter((operation) => operation.path.includes('/binding/')).map((operation) => operation.value.sidecarImage);
    expect(images).toEqual(['REGISTRY/kubevirt-vduse/sidecar:0.1.0', 'REGISTRY/kubevirt-vduse/sidecar:0.1.0']);
    const hco = JSON.parse(readFileSync(join(copy, 'deploy/kubevirt/hco/networkbinding-hco-1.18.json'), 'utf8')) as { spec: { networking: { networkBinding: Record<string, { sidecarImage: string }> } } };
    expect(Object.values(hco.spec.networking.networkBinding).map((binding) => binding.sidecarImage)).toEqual(images);
  });

  it("HyperConverged: both HCO forms register the KubeVirt patch's bindings, and the jsonpatch annotation's patch applies to HCO's KubeVirt CR", () => {
    const readJson = (file: string): unknown => JSON.parse(readFileSync(projectFile('deploy', 'kubevirt', 'hco', file), 'utf8'));
    const bindings = Object.fromEntries(patch.filter((operation) => operation.path.includes('/binding/')).map((operation) => [operation.path.split('/').at(-1)!, operation.value]));
    expect((readJson('networkbinding-hco-1.18.json') as { spec: { networking: { networkBinding: unknown } } }).spec.networking.networkBinding).toEqual(bindings);
    expect((readJson('networkbinding-hco-before-1.18.json') as { spec: { networkBinding: unknown } }).spec.networkBinding).toEqual(bindings);
    // HCO generates the KubeVirt CR with its own feature gates and no supportContainerResources.
    const generated = kubevirt();
    const jsonPatch = readJson('kubevirt-jsonpatch.json') as { op: string; path: string; value: unknown }[];
    expect(applyPatch(generated, jsonPatch as never).every((error) => error === null)).toBe(true);
    expect(generated.spec.configuration.developerConfiguration.featureGates).toContain('ReservedOverheadMemlock');
    expect((generated.spec.configuration as Record<string, unknown>).supportContainerResources).toEqual([{ type: 'sidecar', resources: { limits: { memory: SIDECAR_MEMORY_LIMIT } } }]);
    expect(schemaErrors('v1.KubeVirt', generated)).toEqual([]);
    const readme = readFileSync(projectFile('deploy', 'kubevirt', 'README.md'), 'utf8');
    for (const word of ['openshift-cnv', 'kubevirt-hyperconverged', 'TaintedConfiguration', 'replaces any patch already there']) expect(readme).toContain(word);
  });

  it('names the sidecar image without a registry host', () => {
    const image = (patch[0]!.value as { sidecarImage: string }).sidecarImage;
    expect(image.split('/')[0]).not.toMatch(/[.:]/);
  });
});

describe('deploy/examples', () => {
  const examples = Object.fromEntries(readdirSync(projectFile('deploy', 'examples')).map((file) => [file, readYaml('deploy', 'examples', file)[0]!]));

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
