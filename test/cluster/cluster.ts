// npm run cluster -- up [--kubevirt 1.8.4|1.9.0] [--recreate] | down | status | sources add NAME GIT_DIR REF | sources list
//
// A real control plane on this machine, as local processes on 127.0.0.1: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, KubeVirt's virt-api and virt-controller, built from their
// released Go modules (test/cluster/build.ts), with KubeVirt's install objects from its own
// install-strategy code (installgen), and this project installed as docs/install.md says. There is
// no kubelet and no virt-handler: the scheduler binds Pods to a played Node, where they stay
// Pending. The state (certificates, etcd's data, logs, process ids) lives in .cluster/, and the
// admin kubeconfig is .cluster/kubeconfig, printed as the last line of `up`. `up` on a running
// cluster changes nothing unless given --recreate.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { createLoopbackPki, type LoopbackPki, openLoopbackPki } from '../../cli/loopback-pki.ts';
import { buildModule } from './build.ts';
import { sourcesCommand } from './sources.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const STATE_DIR = join(ROOT, '.cluster');
export const KUBECONFIG = join(STATE_DIR, 'kubeconfig');
const LOGS = join(STATE_DIR, 'logs');
const PKI = join(STATE_DIR, 'pki');
const STATE_FILE = join(STATE_DIR, 'state.json');

/** 1.9.0 needs virt-template v0.2.0, which the module proxy refuses: `sources add` (test/cluster/sources.ts). */
export const KUBEVIRT_VERSIONS = ['1.8.4', '1.9.0'] as const;
export const DEFAULT_KUBEVIRT = '1.8.4';

/** Where the API server answers, and the CA its serving certificate comes from. */
export const API_SERVER = 'https://127.0.0.1:16443';
export const CLUSTER_CA = join(PKI, 'cluster-ca.crt');

const PORTS = { etcdClient: 23790, etcdPeer: 23800, controllerManager: 10257, scheduler: 10259, virtApi: 18443, virtApiConsole: 18186, virtController: 18182, webhookHealth: 18080 } as const;
/** The project's webhook Service says port 443; the API server dials the ExternalName there. */
const WEBHOOK_PORT = 443;
const KUBEVIRT_NAMESPACE = 'kubevirt';

export interface ClusterState {
  kubevirt: string;
  /** Where the binaries are: the kube module's (kubectl, ...) and KubeVirt's (virtctl, ...). */
  bins: { kube: string; kubevirt: string };
  /** Part name to its process id and log. */
  parts: Record<string, { pid: number; log: string }>;
}

const say = (text: string) => process.stderr.write(`cluster: ${text}\n`);

export function readState(): ClusterState | undefined {
  return existsSync(STATE_FILE) ? (JSON.parse(readFileSync(STATE_FILE, 'utf8')) as ClusterState) : undefined;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** A part as a detached process whose output goes to its log; recorded in the state file. */
function startPart(state: ClusterState, name: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const log = join(LOGS, `${name}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  closeSync(fd);
  child.unref();
  state.parts[name] = { pid: child.pid!, log };
  writeFileSync(STATE_FILE, JSON.stringify(state, null, 2));
  return child;
}

/** Waits until check() holds; fails with the part's name and its log's last lines when it does not. */
async function waitFor(state: ClusterState, name: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const started = Date.now();
  const part = state.parts[name];
  while (Date.now() - started < timeoutMs) {
    if (part && !alive(part.pid)) break;
    if (await check().catch(() => false)) {
      say(`${name} is up (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      return;
    }
    await sleep(250);
  }
  const tail = part && existsSync(part.log) ? readFileSync(part.log, 'utf8').trim().split('\n').slice(-15).join('\n') : '';
  throw new Error(`${name} did not come up within ${timeoutMs / 1000} s${part && !alive(part.pid) ? ' (it exited)' : ''}; its log: ${part?.log ?? '(none)'}\n${tail}`);
}

/**
 * GET on a fresh connection (no keep-alive left open in the caller), over HTTPS with the given CA
 * and client certificate when the URL says so; true on a 200.
 */
function answers200(url: string, tls?: { ca: string; cert?: string; key?: string }): Promise<boolean> {
  return new Promise((resolve) => {
    const options = { agent: false as const, timeout: 2000, ...(tls ? { ca: readFileSync(tls.ca), ...(tls.cert ? { cert: readFileSync(tls.cert), key: readFileSync(tls.key!) } : {}) } : {}) };
    const outgoing = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, options, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    outgoing.on('error', () => resolve(false));
    outgoing.on('timeout', () => outgoing.destroy());
    outgoing.end();
  });
}

export function kubectl(bin: string, args: string[], input?: string): string {
  const result = spawnSync(join(bin, 'kubectl'), ['--kubeconfig', KUBECONFIG, ...args], { input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) {
    const lines = result.stderr.trim().split('\n');
    const shown = lines.length > 6 ? [...lines.slice(0, 5), `(${lines.length - 5} more lines)`] : lines;
    throw new Error(`kubectl ${args.join(' ')}: ${shown.join('\n') || result.error?.message || `exit ${String(result.status)}`}`);
  }
  return result.stdout;
}

function kubeconfigFor(server: string, ca: string, user: { cert: string; key: string } | { token: string }): string {
  const credentials = 'token' in user ? `token: ${user.token}` : `client-certificate: ${user.cert}\n    client-key: ${user.key}`;
  return `apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: ${server}\n    certificate-authority: ${ca}\nusers:\n- name: user\n  user:\n    ${credentials}\ncontexts:\n- name: test\n  context: {cluster: test, user: user}\ncurrent-context: test\n`;
}

const serviceAccountKubeconfigPath = (namespace: string, account: string) => join(STATE_DIR, `${namespace}-${account}.kubeconfig`);

/** A kubeconfig with a token of the service account, so the process runs with exactly its RBAC. */
function serviceAccountKubeconfig(kubeBin: string, namespace: string, account: string): string {
  const token = kubectl(kubeBin, ['create', 'token', account, '-n', namespace, '--duration', '24h']).trim();
  const path = serviceAccountKubeconfigPath(namespace, account);
  writeFileSync(path, kubeconfigFor(API_SERVER, CLUSTER_CA, { token }));
  return path;
}

/** The webhook's serving certificate, from the cluster CA, where the webhook reads it. */
export const WEBHOOK_TLS = { certPath: join(PKI, 'webhook.crt'), keyPath: join(PKI, 'webhook.key') };
const WEBHOOK_NAMES = ['DNS:kubevirt-vduse-webhook.vduse-system.svc', 'DNS:localhost', 'IP:127.0.0.1'];

function issueWebhookCertificate(ca: LoopbackPki): void {
  ca.issue('webhook', { days: 7, altNames: WEBHOOK_NAMES });
}

/**
 * A new serving certificate from the same CA, put in place the way the kubelet updates a Secret
 * volume when cert-manager renews the Certificate: whole files, by rename. The caBundle (the CA)
 * does not change. The webhook reloads it (webhook/watched-file.ts).
 */
export function renewWebhookCertificate(): void {
  const ca = openLoopbackPki({ dir: PKI, caName: 'cluster-ca' });
  const fresh = ca.issue('webhook-renewed', { days: 7, altNames: WEBHOOK_NAMES });
  writeFileSync(`${WEBHOOK_TLS.keyPath}.new`, fresh.key);
  writeFileSync(`${WEBHOOK_TLS.certPath}.new`, fresh.cert);
  renameSync(`${WEBHOOK_TLS.keyPath}.new`, WEBHOOK_TLS.keyPath);
  renameSync(`${WEBHOOK_TLS.certPath}.new`, WEBHOOK_TLS.certPath);
}

/** The webhook from the image's entry point, with its own service account's token; waits until it is ready. */
export async function startWebhook(state: ClusterState = readState()!): Promise<void> {
  startPart(state, 'webhook', join(ROOT, 'bin', 'kubevirt-vduse-webhook'), [
    '--tls-cert', WEBHOOK_TLS.certPath, '--tls-key', WEBHOOK_TLS.keyPath, '--port', String(WEBHOOK_PORT), '--health-port', String(PORTS.webhookHealth),
    '--config', join(ROOT, 'deploy', 'base', 'config.yaml'), '--kubeconfig', serviceAccountKubeconfigPath('vduse-system', 'kubevirt-vduse-webhook'),
    // The entry point runs `node`: the image's is Node 24, here the pinned one.
  ], { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` });
  await waitFor(state, 'webhook', () => answers200(`http://127.0.0.1:${PORTS.webhookHealth}/readyz`), 60_000);
}

/** Stops one part, as down does, and keeps the rest running. */
export async function stopPart(name: string, state: ClusterState = readState()!): Promise<void> {
  const part = state.parts[name];
  if (!part || !alive(part.pid)) return;
  try {
    process.kill(-part.pid, 'SIGTERM');
  } catch {
    process.kill(part.pid, 'SIGTERM');
  }
  for (let waited = 0; waited < 50 && alive(part.pid); waited++) await sleep(100);
  if (alive(part.pid)) process.kill(-part.pid, 'SIGKILL');
  say(`stopped ${name}`);
}

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; [key: string]: unknown };

/** Where the rig's virtctl and the kubectl that matches its API server are. */
export const toolsLine = (state: ClusterState): string =>
  `virtctl ${join(state.bins.kubevirt, 'virtctl')}, kubectl ${join(state.bins.kube, 'kubectl')} (each with --kubeconfig ${KUBECONFIG})`;

/**
 * The cluster that runs, when every part of it does; undefined when there is none. A cluster with
 * parts down is an error that names them: `up --recreate` replaces it, `down` removes it.
 */
function runningCluster(): ClusterState | undefined {
  const state = readState();
  if (!state) return undefined;
  const down = Object.entries(state.parts).filter(([, part]) => !alive(part.pid)).map(([name]) => name);
  if (down.length > 0) throw new Error(`a cluster is in ${STATE_DIR} with ${down.join(', ')} not running; nothing changed: \`npm run cluster -- up --recreate\` replaces it, \`npm run cluster -- down\` removes it`);
  return state;
}

export interface UpOptions {
  /** Stop a running cluster and start a fresh one (its Namespaces and VMs are gone). */
  recreate?: boolean;
}

/** Starts the cluster with KubeVirt kubevirtVersion (the default when undefined); a running one is left as it is unless recreate. */
export async function up(kubevirtVersion: string | undefined, options: UpOptions = {}): Promise<string> {
  const wanted = kubevirtVersion ?? DEFAULT_KUBEVIRT;
  if (!(KUBEVIRT_VERSIONS as readonly string[]).includes(wanted)) {
    throw new Error(`--kubevirt ${wanted}: expected one of ${KUBEVIRT_VERSIONS.join(', ')}`);
  }
  if (process.getuid?.() !== 0) throw new Error('needs root: the webhook listens on port 443, where its Service sends the API server');
  if (!options.recreate) {
    const running = runningCluster();
    if (running && kubevirtVersion !== undefined && running.kubevirt !== kubevirtVersion) {
      throw new Error(`already up with KubeVirt v${running.kubevirt}; nothing changed: \`npm run cluster -- up --kubevirt ${kubevirtVersion} --recreate\` replaces it`);
    }
    if (running) {
      say(`already up with KubeVirt v${running.kubevirt}; nothing changed (--recreate starts a fresh one)`);
      say(toolsLine(running));
      return KUBECONFIG;
    }
  }
  const kubevirtVersionToRun = wanted;
  // Built first: a build that cannot run here (a refused source) leaves a running cluster as it is.
  const [kubeBin, kubevirtBin] = [await buildModule('kube'), await buildModule(`kubevirt-v${kubevirtVersionToRun}`)];
  await down();
  // The webhook runs from the bundle, as in its image: built now, so it is never a stale one.
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.ts')], { stdio: ['ignore', 'ignore', 'inherit'] });
  mkdirSync(LOGS, { recursive: true });
  const state: ClusterState = { kubevirt: kubevirtVersionToRun, bins: { kube: kubeBin, kubevirt: kubevirtBin }, parts: {} };
  writeFileSync(STATE_FILE, JSON.stringify(state, null, 2));

  // Certificates: one CA for the cluster (serving and client certificates), one for the
  // request-header (front-proxy) client that virt-api trusts, and the service-account key pair.
  const clusterCa = createLoopbackPki({ dir: PKI, caName: 'cluster-ca', caDays: 7 });
  const frontProxyCa = createLoopbackPki({ dir: join(PKI, 'front-proxy'), caName: 'front-proxy-ca', caDays: 7 });
  const apiserverCert = clusterCa.issue('apiserver', { days: 7, altNames: ['IP:127.0.0.1', 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default.svc'] });
  const admin = clusterCa.issue('admin', { days: 7, subject: '/O=system:masters/CN=kubernetes-admin', altNames: [], usage: 'client' });
  const frontProxyClient = frontProxyCa.issue('front-proxy-client', { days: 7, altNames: [], usage: 'client' });
  const virtApiCert = clusterCa.issue('virt-api', { days: 7, altNames: ['DNS:virt-api.kubevirt.svc', 'DNS:localhost', 'IP:127.0.0.1'] });
  issueWebhookCertificate(clusterCa);
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', join(PKI, 'sa.key')]);
  execFileSync('openssl', ['pkey', '-in', join(PKI, 'sa.key'), '-pubout', '-out', join(PKI, 'sa.pub')]);
  writeFileSync(KUBECONFIG, kubeconfigFor(API_SERVER, clusterCa.caPath, { cert: admin.certPath, key: admin.keyPath }));

  startPart(state, 'etcd', join(kubeBin, 'etcd'), [
    '--name', 'test', '--data-dir', join(STATE_DIR, 'etcd'),
    '--listen-client-urls', `http://127.0.0.1:${PORTS.etcdClient}`, '--advertise-client-urls', `http://127.0.0.1:${PORTS.etcdClient}`,
    '--listen-peer-urls', `http://127.0.0.1:${PORTS.etcdPeer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${PORTS.etcdPeer}`,
    '--initial-cluster', `test=http://127.0.0.1:${PORTS.etcdPeer}`, '--unsafe-no-fsync',
  ]);
  await waitFor(state, 'etcd', () => answers200(`http://127.0.0.1:${PORTS.etcdClient}/health`), 30_000);

  startPart(state, 'kube-apiserver', join(kubeBin, 'kube-apiserver'), [
    '--etcd-servers', `http://127.0.0.1:${PORTS.etcdClient}`,
    '--bind-address', '127.0.0.1', '--advertise-address', '127.0.0.1', '--secure-port', new URL(API_SERVER).port,
    '--tls-cert-file', apiserverCert.certPath, '--tls-private-key-file', apiserverCert.keyPath,
    '--client-ca-file', clusterCa.caPath,
    '--service-account-issuer', 'https://kubernetes.default.svc', '--service-account-key-file', join(PKI, 'sa.pub'), '--service-account-signing-key-file', join(PKI, 'sa.key'),
    '--service-cluster-ip-range', '10.96.0.0/16',
    '--authorization-mode', 'Node,RBAC',
    '--enable-admission-plugins', 'NamespaceLifecycle,ServiceAccount,MutatingAdmissionWebhook,ValidatingAdmissionWebhook',
    // virt-api reads the request-header CA from extension-apiserver-authentication, and panics without it.
    '--requestheader-client-ca-file', frontProxyCa.caPath, '--requestheader-allowed-names', 'front-proxy-client',
    '--requestheader-username-headers', 'X-Remote-User', '--requestheader-group-headers', 'X-Remote-Group', '--requestheader-extra-headers-prefix', 'X-Remote-Extra-',
    '--proxy-client-cert-file', frontProxyClient.certPath, '--proxy-client-key-file', frontProxyClient.keyPath,
  ]);
  await waitFor(state, 'kube-apiserver', () => answers200(`${API_SERVER}/readyz`, { ca: clusterCa.caPath, cert: admin.certPath, key: admin.keyPath }), 90_000);
  await startControllers(state, kubeBin, clusterCa);

  // KubeVirt: what virt-operator would install, the Multus NAD CRD, the CA, the CR with its phase.
  kubectl(kubeBin, ['create', 'namespace', KUBEVIRT_NAMESPACE]);
  const install = JSON.parse(execFileSync(join(kubevirtBin, 'installgen'), ['--namespace', KUBEVIRT_NAMESPACE], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] })) as { items: Manifest[] };
  // The common instancetypes and preferences wait for virt-api, whose webhooks validate them.
  const ofCrds = install.items.filter((object) => object.apiVersion.startsWith('instancetype.kubevirt.io/'));
  // virt-api's APIServices are registered once it serves. Others (1.9's virt-template apiserver's)
  // are left out with the parts that would serve them.
  const isApiService = (object: Manifest) => object.kind === 'APIService';
  const apiServiceObjects = install.items.filter((object) => isApiService(object) && (object.spec as { service?: { name?: string } }).service?.name === 'virt-api');
  // virt-operator does not run here (it cannot finish without a kubelet), so its own webhook, which
  // validates the KubeVirt CR, has no server: that configuration is left out.
  const operatorWebhook = (object: Manifest) => JSON.stringify(object.webhooks ?? []).includes('"kubevirt-operator-webhook"');
  kubectl(kubeBin, ['apply', '--server-side', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: install.items.filter((object) => !ofCrds.includes(object) && !isApiService(object) && !operatorWebhook(object)) }));
  kubectl(kubeBin, ['apply', '--server-side', '-f', join(ROOT, 'test', 'cluster', 'manifests', 'network-attachment-definition-crd.yaml')]);
  kubectl(kubeBin, ['wait', '--for', 'condition=established', '--timeout', '60s', 'crd', '--all']);
  kubectl(kubeBin, ['create', 'configmap', 'kubevirt-ca', '-n', KUBEVIRT_NAMESPACE, `--from-file=ca-bundle=${clusterCa.caPath}`]);
  const caBundle = clusterCa.ca.toString('base64');
  // KubeVirt's webhooks reach virt-api on this machine: an ExternalName Service to localhost, on virt-api's port.
  kubectl(kubeBin, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'virt-api', namespace: KUBEVIRT_NAMESPACE }, spec: { type: 'ExternalName', externalName: 'localhost' } }));
  for (const kind of ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations']) {
    const list = JSON.parse(kubectl(kubeBin, ['get', kind, '-o', 'json'])) as { items: { metadata: { name: string }; webhooks: { clientConfig: { service?: { name: string; port?: number }; caBundle?: string } }[] }[] };
    for (const configuration of list.items) {
      if (!configuration.webhooks.some((webhook) => webhook.clientConfig.service?.name === 'virt-api')) continue;
      for (const webhook of configuration.webhooks) webhook.clientConfig = { ...webhook.clientConfig, caBundle, ...(webhook.clientConfig.service ? { service: { ...webhook.clientConfig.service, port: PORTS.virtApi } } : {}) };
      kubectl(kubeBin, ['replace', '-f', '-'], JSON.stringify(configuration));
    }
  }
  kubectl(kubeBin, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'kubevirt.io/v1', kind: 'KubeVirt', metadata: { name: 'kubevirt', namespace: KUBEVIRT_NAMESPACE }, spec: { configuration: { developerConfiguration: { featureGates: [] } } } }));
  // KubeVirt ignores the configuration of a CR whose status has no phase, and takes the default
  // architecture from its status: virt-operator sets both (pkg/virt-config/configuration.go).
  kubectl(kubeBin, ['patch', 'kubevirt', 'kubevirt', '-n', KUBEVIRT_NAMESPACE, '--subresource', 'status', '--type', 'merge', '-p', JSON.stringify({ status: { phase: 'Deployed', observedKubeVirtVersion: `v${kubevirtVersionToRun}`, targetKubeVirtVersion: `v${kubevirtVersionToRun}`, defaultArchitecture: 'amd64' } })]);

  const virtApiKubeconfig = serviceAccountKubeconfig(kubeBin, KUBEVIRT_NAMESPACE, 'kubevirt-apiserver');
  startPart(state, 'virt-api', join(kubevirtBin, 'virt-api'), [
    '--kubeconfig', virtApiKubeconfig, '--listen', '127.0.0.1', '--port', String(PORTS.virtApi), '--console-server-port', String(PORTS.virtApiConsole),
    '--tls-cert-file', virtApiCert.certPath, '--tls-key-file', virtApiCert.keyPath, '--handler-cert-file', virtApiCert.certPath, '--handler-key-file', virtApiCert.keyPath,
    '--subresources-only=false',
  ]);
  await waitFor(state, 'virt-api', () => answers200(`https://127.0.0.1:${PORTS.virtApi}/apis/subresources.kubevirt.io/v1/healthz`, { ca: clusterCa.caPath }), 90_000);
  kubectl(kubeBin, ['apply', '--server-side', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: ofCrds }));
  // subresources.kubevirt.io through the aggregator, as virt-operator registers it (with the CA it
  // signs virt-api's certificate with), on virt-api's port behind the ExternalName Service.
  const apiServices = apiServiceObjects.map((object) => ({ ...object, spec: { ...(object.spec as object), caBundle, service: { ...(object.spec as { service: object }).service, port: PORTS.virtApi } } }));
  kubectl(kubeBin, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: apiServices }));
  for (const { metadata } of apiServices) kubectl(kubeBin, ['wait', '--for', 'condition=Available', '--timeout', '60s', `apiservice/${metadata.name}`]);

  const virtControllerKubeconfig = serviceAccountKubeconfig(kubeBin, KUBEVIRT_NAMESPACE, 'kubevirt-controller');
  startPart(state, 'virt-controller', join(kubevirtBin, 'virt-controller'), [
    '--kubeconfig', virtControllerKubeconfig, '--listen', '127.0.0.1', '--port', String(PORTS.virtController),
    '--launcher-image', `virt-launcher:v${kubevirtVersionToRun}`, '--exporter-image', `virt-exportserver:v${kubevirtVersionToRun}`,
    '--prom-cert-file', virtApiCert.certPath, '--prom-key-file', virtApiCert.keyPath,
  ]);
  await waitFor(state, 'virt-controller', () => Promise.resolve(readFileSync(state.parts['virt-controller']!.log, 'utf8').includes('successfully acquired lease')), 90_000);

  // This project, as docs/install.md installs it: deploy/base rendered with kubectl kustomize and
  // applied unchanged but for what a test rig must change: the Service reaches the local webhook
  // process (ExternalName to localhost), and the caBundle is set (an overlay's job on a cluster).
  const rendered = parseAllDocuments(kubectl(kubeBin, ['kustomize', join(ROOT, 'deploy', 'base')])).map((document) => document.toJS() as Manifest);
  const adjusted = rendered.map((object) => {
    if (object.kind === 'Service' && object.metadata.name === 'kubevirt-vduse-webhook') return { ...object, spec: { type: 'ExternalName', externalName: 'localhost' } };
    if (object.kind === 'MutatingWebhookConfiguration') {
      return { ...object, webhooks: (object.webhooks as { clientConfig: object }[]).map((webhook) => ({ ...webhook, clientConfig: { ...webhook.clientConfig, caBundle } })) };
    }
    return object;
  });
  kubectl(kubeBin, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: adjusted }));
  serviceAccountKubeconfig(kubeBin, 'vduse-system', 'kubevirt-vduse-webhook');
  await startWebhook(state);
  playNode(kubeBin);
  // Played: the webhook Service's EndpointSlice for a ready pod, as the endpointslice controller
  // would make it for the webhook's Deployment were its Pod running (an address that is never
  // dialled: the Service is an ExternalName to the local webhook process).
  kubectl(kubeBin, ['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: 'kubevirt-vduse-webhook-played', namespace: 'vduse-system', labels: { 'kubernetes.io/service-name': 'kubevirt-vduse-webhook' } },
    addressType: 'IPv4', endpoints: [{ addresses: ['192.0.2.10'], conditions: { ready: true } }], ports: [{ name: 'https', port: 8443, protocol: 'TCP' }],
  }));
  // The binding registration, as deploy/kubevirt/README.md applies it: the patch tests the CR's
  // resourceVersion first, and virt-controller may change the CR between the read and the patch;
  // then, as the README says, run it again.
  for (let attempt = 1; ; attempt++) {
    const live = kubectl(kubeBin, ['get', 'kubevirt', 'kubevirt', '-n', KUBEVIRT_NAMESPACE, '-o', 'json']);
    const patch = execFileSync('jq', ['-c', '-f', join(ROOT, 'deploy', 'kubevirt', 'register-vduse.jq'), '--arg', 'image', 'kubevirt-vduse/sidecar:test'], { input: live, encoding: 'utf8' });
    try {
      kubectl(kubeBin, ['patch', 'kubevirt', 'kubevirt', '-n', KUBEVIRT_NAMESPACE, '--type', 'json', '-p', patch]);
      break;
    } catch (error) {
      if (attempt === 5 || !(error as Error).message.includes('The request is invalid')) throw error;
    }
  }
  say(`up: KubeVirt v${kubevirtVersionToRun}; logs in ${LOGS}`);
  say(toolsLine(state));
  return KUBECONFIG;
}

/**
 * kube-controller-manager and kube-scheduler from the same Kubernetes module, each with its own
 * identity (the API server's bootstrap RBAC binds system:kube-controller-manager and
 * system:kube-scheduler), the controllers with a service account each, as kubeadm runs them.
 */
async function startControllers(state: ClusterState, kubeBin: string, clusterCa: LoopbackPki): Promise<void> {
  const identity = (name: string) => {
    const client = clusterCa.issue(name, { days: 7, subject: `/CN=system:${name}`, altNames: [], usage: 'client' });
    const serving = clusterCa.issue(`${name}-serving`, { days: 7, altNames: ['IP:127.0.0.1', 'DNS:localhost'] });
    const kubeconfig = join(STATE_DIR, `${name}.kubeconfig`);
    writeFileSync(kubeconfig, kubeconfigFor(API_SERVER, clusterCa.caPath, { cert: client.certPath, key: client.keyPath }));
    return ['--kubeconfig', kubeconfig, '--authentication-kubeconfig', kubeconfig, '--authorization-kubeconfig', kubeconfig, '--bind-address', '127.0.0.1', '--tls-cert-file', serving.certPath, '--tls-private-key-file', serving.keyPath, '--leader-elect=false'];
  };
  startPart(state, 'kube-controller-manager', join(kubeBin, 'kube-controller-manager'), [
    ...identity('kube-controller-manager'), '--secure-port', String(PORTS.controllerManager),
    '--use-service-account-credentials=true', '--service-account-private-key-file', join(PKI, 'sa.key'), '--root-ca-file', clusterCa.caPath,
    // Every controller runs (the garbage collector, the service account, namespace, ReplicaSet,
    // endpointslice and node lifecycle controllers among them). The played kubelet reports the Node
    // Ready once and never again: the node lifecycle controller takes the not-ready taint off (the
    // API server's TaintNodesByCondition put it on), and would mark the Node unreachable and evict
    // every Pod after node-monitor-grace-period, which is a year here.
    '--node-monitor-grace-period', '8760h',
  ]);
  await waitFor(state, 'kube-controller-manager', () => answers200(`https://127.0.0.1:${PORTS.controllerManager}/healthz`, { ca: clusterCa.caPath }), 60_000);
  startPart(state, 'kube-scheduler', join(kubeBin, 'kube-scheduler'), [...identity('kube-scheduler'), '--secure-port', String(PORTS.scheduler)]);
  await waitFor(state, 'kube-scheduler', () => answers200(`https://127.0.0.1:${PORTS.scheduler}/healthz`, { ca: clusterCa.caPath }), 60_000);
}

/** The Node the Pods are scheduled to. */
export const NODE = 'node-a';

/**
 * Played, since no kubelet or virt-handler runs here: a Node as they would report it. kubelet: Ready,
 * its CPUs, memory, 1Gi hugepages, and the CPU manager's label; the VDUSE device plugin: its
 * resource; virt-handler: its device plugins' resources (pkg/virt-handler/device-manager),
 * kubevirt.io/schedulable and the machine type's label. Big enough for every VM the suites make.
 */
function playNode(kubeBin: string): void {
  kubectl(kubeBin, ['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'Node',
    metadata: {
      name: NODE,
      labels: {
        'kubernetes.io/hostname': NODE, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', cpumanager: 'true',
        // virt-handler's, and its node labeller's for the machine type the launcher Pods select (pkg/virt-handler/node-labeller).
        'kubevirt.io/schedulable': 'true', 'machine-type.node.kubevirt.io/q35': 'true',
      },
    },
  }));
  const resources = { cpu: '64', memory: '512Gi', 'ephemeral-storage': '500Gi', pods: '250', 'hugepages-1Gi': '64Gi', 'vduse.io/vduse': '64', 'devices.kubevirt.io/kvm': '1k', 'devices.kubevirt.io/tun': '1k', 'devices.kubevirt.io/vhost-net': '1k' };
  const now = new Date().toISOString();
  kubectl(kubeBin, ['patch', 'node', NODE, '--subresource', 'status', '--type', 'merge', '-p', JSON.stringify({
    status: { capacity: resources, allocatable: resources, conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'played by the test rig', lastHeartbeatTime: now, lastTransitionTime: now }] },
  })]);
}

/** Stops every part that up started (newest first) and removes the state. */
export async function down(): Promise<void> {
  const state = readState();
  if (state) for (const name of Object.keys(state.parts).reverse()) await stopPart(name, state);
  rmSync(STATE_DIR, { recursive: true, force: true });
}

export function status(): string {
  const state = readState();
  if (!state) return 'no cluster (npm run cluster -- up)';
  return [`KubeVirt v${state.kubevirt}; kubeconfig ${KUBECONFIG}`, `  ${toolsLine(state)}`, ...Object.entries(state.parts).map(([name, { pid, log }]) => `  ${name.padEnd(24)} ${alive(pid) ? `running, pid ${pid}` : 'NOT RUNNING'}  ${log}`)].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [command, ...rest] = process.argv.slice(2);
  const version = rest.includes('--kubevirt') ? rest[rest.indexOf('--kubevirt') + 1] : undefined;
  try {
    if (command === 'up') console.log(await up(version, { recreate: rest.includes('--recreate') }));
    else if (command === 'down') await down();
    else if (command === 'status') console.log(status());
    else if (command === 'sources') console.log(sourcesCommand(rest));
    else {
      console.error(`Usage: npm run cluster -- up [--kubevirt ${KUBEVIRT_VERSIONS.join('|')}] [--recreate] | down | status | sources add NAME GIT_DIR REF | sources list`);
      process.exitCode = command === undefined || command === '--help' ? 0 : 1;
    }
  } catch (error) {
    console.error(`cluster ${command ?? ''}: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
