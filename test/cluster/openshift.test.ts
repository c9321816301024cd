// deploy/overlays/openshift held to what OpenShift enforces, with OpenShift's own code:
// - the webhook's Pod through OpenShift's SCC admission (openshift/apiserver-library-go, the harness
//   test/cluster/go/openshift-scc) with restricted-v2 as OpenShift ships it
//   (openshift/cluster-kube-apiserver-operator), in a Namespace with the UID range, SELinux level
//   and groups that OpenShift pre-allocates (played: that is cluster-policy-controller's part);
// - on the real control plane, the service CA's own controllers (openshift/service-ca-operator,
//   `service-ca-operator controller`, with its own RBAC) giving the overlay's Service its serving
//   certificate and the webhook configuration its caBundle, then the API server calling the
//   webhook with them.
// The module proxy refuses those sources: where the build cache lacks them, each part is skipped
// with one line naming what is missing and the command that provides it.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { projectFile } from '../helpers/fixtures.ts';
import { buildModule } from './build.ts';
import { readState, serviceAccountKubeconfig, STATE_DIR, WEBHOOK_TLS } from './cluster.ts';
import { createExampleVm, json, kubectl, namespace, until } from './helpers.ts';
import { missingSource, OPENSHIFT_REFS, sourceExport } from './sources.ts';

/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-argument --
   Loose on purpose: the tests read what kustomize, OpenShift's code and the API server made. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

const status = inject('clusterStatus');
const BUILD_TIMEOUT = 20 * 60_000;

/** The sources a part needs: their exports' directories, or the lines saying what is missing. */
function exportsOf(...names: (keyof typeof OPENSHIFT_REFS)[]): { dirs: Record<string, string> } | { missing: string[] } {
  const found = names.map((name) => [name, sourceExport(name, OPENSHIFT_REFS[name])?.dir] as const);
  const missing = found.filter(([, dir]) => dir === undefined).map(([name]) => missingSource(name, OPENSHIFT_REFS[name]));
  return missing.length > 0 ? { missing } : { dirs: Object.fromEntries(found) as Record<string, string> };
}
const describeWith = (title: string, sources: ReturnType<typeof exportsOf>, body: (dirs: Record<string, string>) => void) => {
  if ('missing' in sources) {
    for (const line of sources.missing) console.warn(`\n*** SKIPPING "${title}": ${line} ***\n`);
    describe.skip(title, () => undefined);
  } else describe(title, () => body(sources.dirs));
};

const rendered = (): Loose[] => {
  const result = spawnSync('kubectl', ['kustomize', projectFile('deploy', 'overlays', 'openshift')], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`kubectl kustomize deploy/overlays/openshift: ${result.stderr}`);
  return parseAllDocuments(result.stdout).map((document) => document.toJS() as Loose);
};
const find = (objects: Loose[], kind: string) => objects.find((object) => object.kind === kind)!;

// The Namespace as OpenShift's namespace SCC allocation gives it to vduse-system: a UID block, an
// MCS level, the same block for groups.
const NAMESPACE = {
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name: 'vduse-system', annotations: { 'openshift.io/sa.scc.uid-range': '1000680000/10000', 'openshift.io/sa.scc.mcs': 's0:c26,c15', 'openshift.io/sa.scc.supplemental-groups': '1000680000/10000' } },
};
const RESTRICTED_V2 = ['bindata', 'bootkube', 'scc-manifests', '0000_20_kube-apiserver-operator_00_scc-restricted-v2.yaml'];

describeWith("deploy/overlays/openshift's webhook Pod, through OpenShift's SCC admission, with restricted-v2 as OpenShift ships it", exportsOf('apiserver-library-go', 'cluster-kube-apiserver-operator'), (dirs) => {
  let harness: string;
  const scc = () => join(dirs['cluster-kube-apiserver-operator']!, ...RESTRICTED_V2);
  beforeAll(async () => void (harness = join(await buildModule('openshift-scc'), 'kubevirt-vduse-scc')), BUILD_TIMEOUT);

  /** The Deployment's Pod, as its ReplicaSet would create it in vduse-system. */
  const podOf = (deployment: Loose) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { ...deployment.spec.template.metadata, name: 'kubevirt-vduse-webhook-0', namespace: 'vduse-system' }, spec: deployment.spec.template.spec });
  const admit = (pod: object): { errors: string[]; pod: Loose } => {
    const scratch = mkdtempSync(join(tmpdir(), 'vduse-scc-'));
    writeFileSync(join(scratch, 'namespace.json'), JSON.stringify(NAMESPACE));
    const result = spawnSync(harness, ['--scc', scc(), '--namespace', join(scratch, 'namespace.json')], { input: JSON.stringify(pod), encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`kubevirt-vduse-scc: ${result.stderr}`);
    return JSON.parse(result.stdout) as { errors: string[]; pod: Loose };
  };

  it('restricted-v2, as shipped, asks for what the issue names: a UID from the Namespace\'s range, no privilege escalation, seccomp runtime/default, every capability dropped', () => {
    const shipped = parseYaml(readFileSync(scc(), 'utf8')) as Loose;
    expect(shipped).toMatchObject({ metadata: { name: 'restricted-v2' }, runAsUser: { type: 'MustRunAsRange' }, allowPrivilegeEscalation: false, requiredDropCapabilities: ['ALL'], seccompProfiles: ['runtime/default'], allowPrivilegedContainer: false });
  });

  it('the overlay\'s Pod is admitted as written and asks for restricted-v2 by name; the SCC gives it the first UID of the range and the Namespace\'s SELinux level', () => {
    const deployment = find(rendered(), 'Deployment');
    expect(deployment.spec.template.metadata.annotations).toEqual({ 'openshift.io/required-scc': 'restricted-v2' });
    const { errors, pod } = admit(podOf(deployment));
    expect(errors).toEqual([]);
    expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' }, seLinuxOptions: { level: 's0:c26,c15' }, fsGroup: 1000680000 });
    for (const container of pod.spec.containers as Loose[]) {
      expect(container.securityContext, container.name).toMatchObject({ runAsUser: 1000680000, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true });
      expect(container.securityContext.capabilities.add, container.name).toBeUndefined();
    }
  });

  it.each([
    ["deploy/base's Pod, with its fixed UID 1001", (deployment: Loose) => (deployment.spec.template.spec.securityContext.runAsUser = 1001), /runAsUser: Invalid value: 1001: must be in the ranges: \[1000680000, 1000689999\]/],
    ['privilege escalation allowed', (deployment: Loose) => (deployment.spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation = true), /allowPrivilegeEscalation: Invalid value: true: Allowing privilege escalation for containers is not allowed/],
    ['a capability added', (deployment: Loose) => (deployment.spec.template.spec.containers[0].securityContext.capabilities.add = ['NET_ADMIN']), /capabilities\.add: Invalid value: "NET_ADMIN": capability may not be added/],
    ['seccomp unconfined', (deployment: Loose) => (deployment.spec.template.spec.securityContext.seccompProfile = { type: 'Unconfined' }), /unconfined is not an allowed seccomp profile\. Valid values are \[runtime\/default\]/],
  ])('the same admission refuses the Pod with %s: the check can fail', (_title, change, message) => {
    const deployment = structuredClone(find(rendered(), 'Deployment'));
    change(deployment);
    expect(admit(podOf(deployment)).errors.join('\n')).toMatch(message);
  });
});

const SERVICE_CA_NAMESPACE = 'openshift-service-ca';
/** The example VM, admitted with the webhook's warning: the API server called the webhook and trusted it. */
const admitsWithWarning = (ns: string) => {
  const result = createExampleVm(ns, () => undefined, ['--dry-run=server']);
  return result.status === 0 && result.stderr.includes('Warning: vduse: interfaces dataplane now use binding vduse');
};
const SERVICE_CA_PATHS = { signingKey: '/var/run/secrets/signing-key', signingBundle: '/var/run/configmaps/signing-cabundle', serviceAccount: '/var/run/secrets/kubernetes.io/serviceaccount' };

if (status === 'ready') {
  describeWith('the service CA gives the overlay its serving certificate and caBundle, and the API server calls the webhook with them', exportsOf('service-ca-operator'), (dirs) => {
    let controller: ChildProcess | undefined;
    let before: { service: Loose; configuration: Loose; cert: Buffer; key: Buffer };
    let serviceCa: string;

    beforeAll(async () => {
      const bin = await buildModule('service-ca-operator');
      // The service CA's own RBAC and service account, from its operator's assets.
      kubectl(['create', 'namespace', SERVICE_CA_NAMESPACE]);
      for (const asset of ['sa', 'clusterrole', 'clusterrolebinding', 'role', 'rolebinding']) {
        const object = parseYaml(readFileSync(join(dirs['service-ca-operator']!, 'bindata', 'assets', `${asset}.yaml`), 'utf8')) as Loose;
        kubectl(['apply', '-f', '-'], JSON.stringify(object));
      }
      // The signing key and bundle its operator would put in the Secret and ConfigMap it mounts,
      // and the service account's CA; in a mount namespace of its own, at the paths it reads.
      // RSA, as its operator makes it (library-go crypto.MakeSelfSignedCAConfig): the controller
      // signs with the algorithm of the serving key it makes, RSA.
      const pki = mkdtempSync(join(STATE_DIR, 'service-ca-'));
      serviceCa = join(pki, 'tls.crt');
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(pki, 'tls.key'), '-out', serviceCa, '-days', '7', '-subj', `/CN=openshift-service-serving-signer@${String(Math.floor(Date.now() / 1000))}`], { stdio: 'ignore' });
      const files = { [`${SERVICE_CA_PATHS.signingKey}/tls.crt`]: serviceCa, [`${SERVICE_CA_PATHS.signingKey}/tls.key`]: join(pki, 'tls.key'), [`${SERVICE_CA_PATHS.signingBundle}/ca-bundle.crt`]: serviceCa, [`${SERVICE_CA_PATHS.serviceAccount}/ca.crt`]: join(STATE_DIR, 'pki', 'cluster-ca.crt') };
      const script = ['mount -t tmpfs tmpfs /run', ...Object.entries(files).map(([to, from]) => `mkdir -p ${join(to, '..')} && cp ${from} ${to}`), 'exec "$@"'].join(' && ');
      const log = join(STATE_DIR, 'logs', 'service-ca-controller.log');
      const fd = openSync(log, 'a');
      controller = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'service-ca', join(bin, 'service-ca-operator'), 'controller', '--kubeconfig', serviceAccountKubeconfig(readState()!.bins.kube, SERVICE_CA_NAMESPACE, 'service-ca'), '--namespace', SERVICE_CA_NAMESPACE, '--listen', '127.0.0.1:18445'], { stdio: ['ignore', fd, fd] });
      closeSync(fd);

      before = {
        service: json<Loose>(['get', 'service', 'kubevirt-vduse-webhook', '-n', 'vduse-system']),
        configuration: json<Loose>(['get', 'mutatingwebhookconfiguration', 'kubevirt-vduse']),
        cert: readFileSync(WEBHOOK_TLS.certPath),
        key: readFileSync(WEBHOOK_TLS.keyPath),
      };
      // The overlay's Service and webhook configuration, applied as the rig applies deploy/base: the
      // Service an ExternalName to the local webhook, and no caBundle (the service CA's to give).
      const objects = rendered();
      const service = find(objects, 'Service');
      kubectl(['apply', '-f', '-'], JSON.stringify({ ...service, spec: { type: 'ExternalName', externalName: 'localhost' } }));
      kubectl(['apply', '-f', '-'], JSON.stringify(find(objects, 'MutatingWebhookConfiguration')));
    }, BUILD_TIMEOUT);

    afterAll(async () => {
      controller?.kill();
      // The rig's own again: its certificate, the webhook configuration with the cluster CA, the Service without annotations.
      for (const [file, content] of [[WEBHOOK_TLS.keyPath, before.key], [WEBHOOK_TLS.certPath, before.cert]] as const) {
        writeFileSync(`${file}.new`, content);
        renameSync(`${file}.new`, file);
      }
      // Whole, as they were: an update without a resourceVersion is unconditional.
      for (const object of [before.service, before.configuration]) {
        kubectl(['replace', '-f', '-'], JSON.stringify({ ...object, metadata: { ...object.metadata, resourceVersion: undefined, managedFields: undefined } }));
      }
      // (Not an openshift-* Namespace: the webhook configuration leaves those out.)
      const ns = namespace('ocp-overlay-after', { 'vduse.kubevirt.io/policy': 'enabled' });
      await until("the API server to call the webhook with the rig's certificate again", () => (admitsWithWarning(ns) ? true : undefined));
    }, 120_000);

    it('service.beta.openshift.io/serving-cert-secret-name: the service CA issues the Secret the Deployment mounts, for the Service\'s name, signed by the service CA', async () => {
      const objects = rendered();
      const secretName = find(objects, 'Deployment').spec.template.spec.volumes.find((volume: Loose) => volume.name === 'tls').secret.secretName;
      expect(find(objects, 'Service').metadata.annotations['service.beta.openshift.io/serving-cert-secret-name']).toBe(secretName);
      const secret = await until(`the Secret vduse-system/${secretName as string}`, () => json<Loose>(['get', 'secret', secretName, '-n', 'vduse-system']), 60_000);
      expect(secret.type).toBe('kubernetes.io/tls');
      const scratch = mkdtempSync(join(tmpdir(), 'vduse-serving-'));
      writeFileSync(join(scratch, 'tls.crt'), Buffer.from(secret.data['tls.crt'], 'base64'));
      const verified = spawnSync('openssl', ['verify', '-CAfile', serviceCa, '-untrusted', join(scratch, 'tls.crt'), join(scratch, 'tls.crt')], { encoding: 'utf8' });
      expect(verified.stdout, verified.stderr).toContain(': OK');
      const names = spawnSync('openssl', ['x509', '-in', join(scratch, 'tls.crt'), '-noout', '-ext', 'subjectAltName'], { encoding: 'utf8' }).stdout;
      expect(names).toContain('DNS:kubevirt-vduse-webhook.vduse-system.svc');
      expect(names).toContain('DNS:kubevirt-vduse-webhook.vduse-system.svc.cluster.local');
    });

    it('service.beta.openshift.io/inject-cabundle: the service CA puts its bundle into every webhook of the configuration, and the API server then calls the webhook serving that certificate', async () => {
      const bundle = readFileSync(serviceCa).toString('base64');
      await until('the caBundle in every webhook', () => {
        const webhooks = json<Loose>(['get', 'mutatingwebhookconfiguration', 'kubevirt-vduse']).webhooks as Loose[];
        return webhooks.length > 0 && webhooks.every((webhook) => webhook.clientConfig.caBundle === bundle) ? true : undefined;
      }, 60_000);
      // The webhook still serves the rig's certificate, which the service CA did not sign: the API
      // server, now trusting only the service CA for this webhook, refuses to call it.
      const ns = namespace('ocp-overlay', { 'vduse.kubevirt.io/policy': 'enabled' });
      const untrusted = await until('the API server to use the injected caBundle', () => {
        const result = createExampleVm(ns, () => undefined, ['--dry-run=server']);
        return result.status !== 0 ? result.stderr : undefined;
      });
      expect(untrusted).toMatch(/failed calling webhook "namespace-policy\.vduse\.kubevirt\.io": .*x509: certificate signed by unknown authority/);
      // The Secret in the webhook's files, whole files by rename, as the kubelet updates a Secret volume.
      const secret = json<Loose>(['get', 'secret', 'kubevirt-vduse-webhook-tls', '-n', 'vduse-system']);
      const log = readState()!.parts.webhook!.log;
      const reloads = () => readFileSync(log, 'utf8').split('serving certificate reloaded').length;
      const reloadsBefore = reloads();
      for (const [file, key] of [[WEBHOOK_TLS.keyPath, 'tls.key'], [WEBHOOK_TLS.certPath, 'tls.crt']] as const) {
        writeFileSync(`${file}.new`, Buffer.from(secret.data[key], 'base64'));
        renameSync(`${file}.new`, file);
      }
      await until('the webhook to reload its certificate', () => (reloads() > reloadsBefore ? true : undefined), 15_000);
      await until('the API server to call the webhook with the service CA\'s caBundle and certificate', () => (admitsWithWarning(ns) ? true : undefined));
    });
  });
}
