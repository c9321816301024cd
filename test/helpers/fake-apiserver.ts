// A small stand-in for kube-apiserver, speaking the list and watch wire format client-node uses:
// lists with a resourceVersion, watches as chunked JSON lines, GETs, 404s and 410 Gone. Tests
// drive it: add objects (pushed to open watches), cut watches, fail every request for a while.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ExecRequest {
  namespace: string;
  pod: string;
  container: string;
  command: string[];
}

export interface ExecAnswer {
  stdout?: string;
  stderr?: string;
  exitCode: number;
}

const EXEC_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/;

interface StoredObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
}

interface Collection {
  listKind: string;
  apiVersion: string;
  kind: string;
  objects: Map<string, StoredObject>;
  watches: Set<ServerResponse>;
}

const NAMESPACES = '/api/v1/namespaces';
const NADS = '/apis/k8s.cni.cncf.io/v1/network-attachment-definitions';
const NAD_ITEM = /^\/apis\/k8s\.cni\.cncf\.io\/v1\/namespaces\/([^/]+)\/network-attachment-definitions\/([^/]+)$/;
const NAMESPACE_ITEM = /^\/api\/v1\/namespaces\/([^/]+)$/;
const KUBEVIRTS = '/apis/kubevirt.io/v1/kubevirts';

export class FakeApiServer {
  private readonly server: Server;
  private revision = 100;
  private failUntil = 0;
  private failStatus = 500;
  /** Oldest resourceVersion a watch may resume from; older ones get 410 Gone. */
  private compactedBefore = 0;
  getDelayMs = 0;
  readonly requests: string[] = [];
  private readonly collections: Record<'namespaces' | 'nads' | 'kubevirts', Collection> = {
    kubevirts: { listKind: 'KubeVirtList', apiVersion: 'kubevirt.io/v1', kind: 'KubeVirt', objects: new Map(), watches: new Set() },
    namespaces: { listKind: 'NamespaceList', apiVersion: 'v1', kind: 'Namespace', objects: new Map(), watches: new Set() },
    nads: { listKind: 'NetworkAttachmentDefinitionList', apiVersion: 'k8s.cni.cncf.io/v1', kind: 'NetworkAttachmentDefinition', objects: new Map(), watches: new Set() },
  };
  port = 0;

  private readonly webSockets = new WebSocketServer({ noServer: true, handleProtocols: (protocols) => (protocols.has('v4.channel.k8s.io') ? 'v4.channel.k8s.io' : false) });

  constructor() {
    this.server = createServer((request, response) => this.handle(request, response));
    this.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.handleUpgrade(request, socket, head));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    this.cutWatches();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** A kubeconfig file that points at this server. */
  kubeconfigFile(): string {
    const path = join(mkdtempSync(join(tmpdir(), 'vduse-kubeconfig-')), 'kubeconfig');
    writeFileSync(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        // client-node refuses plain HTTP unless TLS checks are off; the fake server is loopback only.
        `clusters: [{name: fake, cluster: {server: "http://127.0.0.1:${this.port}", insecure-skip-tls-verify: true}}]`,
        'users: [{name: tester, user: {token: test-token}}]',
        'contexts: [{name: fake, context: {cluster: fake, user: tester}}]',
        'current-context: fake',
      ].join('\n'),
    );
    return path;
  }

  /** A Namespace as a real API server returns it: managedFields, spec and status included. */
  setNamespace(name: string, labels: Record<string, string> = {}, annotations: Record<string, string> = {}): void {
    const managedFields = [
      {
        manager: 'kubectl-client-side-apply',
        operation: 'Update',
        apiVersion: 'v1',
        time: '2026-01-01T00:00:00Z',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:metadata': { 'f:labels': Object.fromEntries(Object.keys(labels).map((key) => [`f:${key}`, {}])), 'f:annotations': Object.fromEntries(Object.keys(annotations).map((key) => [`f:${key}`, {}])) } },
      },
    ];
    this.store('namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, uid: `uid-${name}`, creationTimestamp: '2026-01-01T00:00:00Z', labels: { 'kubernetes.io/metadata.name': name, ...labels }, annotations, managedFields },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    } as StoredObject);
  }

  setNad(namespace: string, name: string, resourceName: string | undefined): void {
    const annotations: Record<string, string> = resourceName ? { 'k8s.v1.cni.cncf.io/resourceName': resourceName } : {};
    this.store('nads', { apiVersion: 'k8s.cni.cncf.io/v1', kind: 'NetworkAttachmentDefinition', metadata: { name, namespace, annotations } });
  }

  /**
   * Any other object, served to GETs of its item path and to lists of its collection (all
   * Namespaces, or its own): apiPrefix "/apis/instancetype.kubevirt.io/v1beta1", plural
   * "virtualmachineclusterinstancetypes". No watch: the code that reads these GETs or lists them.
   */
  addObject(apiPrefix: string, plural: string, object: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): void {
    const { name, namespace } = object.metadata;
    const item = namespace === undefined ? `${apiPrefix}/${plural}/${name}` : `${apiPrefix}/namespaces/${namespace}/${plural}/${name}`;
    this.others.set(item, { ...object, metadata: { ...object.metadata, resourceVersion: String(++this.revision) } });
  }

  private readonly others = new Map<string, unknown>();
  /** Objects created with POST, and paths deleted with DELETE, in order. */
  readonly created: { path: string; object: Record<string, unknown> }[] = [];
  /** Objects POSTed with dryRun=All: answered, never stored. */
  readonly dryRuns: { path: string; object: Record<string, unknown> }[] = [];
  readonly deleted: string[] = [];
  /** Called on each POST of another object, after it is stored. */
  onCreate: (path: string, object: Record<string, unknown>) => void = () => undefined;
  /**
   * Answers a POST with dryRun=All, which stores nothing: the admission chain's answer, as the
   * status and body the API server would send. Without it, the object comes back as sent, as from
   * an API server with no mutating webhook.
   */
  onDryRunCreate: ((path: string, object: Record<string, unknown>) => Promise<{ status: number; body: unknown }>) | undefined;
  /** Answers the exec subresource, as a container would run the command. */
  execHandler: (request: ExecRequest) => ExecAnswer = () => ({ stdout: '', stderr: 'no exec handler', exitCode: 127 });

  /** The object stored at an item path, for tests to read and change. */
  objectAt(path: string): unknown {
    return this.others.get(path);
  }

  /** Stores an object at an item path as it is (a status change, say). */
  putObject(path: string, object: unknown): void {
    this.others.set(path, object);
  }

  private handleCreate(request: IncomingMessage, url: URL, json: (status: number, body: unknown) => void): void {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const object = JSON.parse(body) as Record<string, unknown> & { metadata?: { name?: string; generateName?: string; namespace?: string } };
      const metadata = { ...object.metadata };
      metadata.name ??= `${metadata.generateName ?? 'object-'}${(++this.revision).toString(36)}`;
      if (url.searchParams.get('dryRun') === 'All') {
        this.dryRuns.push({ path: url.pathname, object });
        const named = { ...object, metadata };
        void (this.onDryRunCreate?.(url.pathname, named) ?? Promise.resolve({ status: 201, body: named })).then(({ status, body }) => json(status, body));
        return;
      }
      const stored = { ...object, metadata: { ...metadata, uid: `uid-${metadata.name}`, resourceVersion: String(++this.revision), creationTimestamp: new Date().toISOString() } };
      const path = `${url.pathname}/${metadata.name}`;
      this.others.set(path, stored);
      this.created.push({ path, object: stored });
      json(201, stored);
      this.onCreate(path, stored);
    });
  }

  /** The exec subresource over WebSocket, in the v4 channel protocol client-node speaks. */
  private handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(request.url ?? '/', 'http://fake');
    const exec = EXEC_PATH.exec(url.pathname);
    if (!exec) {
      socket.destroy();
      return;
    }
    this.webSockets.handleUpgrade(request, socket, head, (connection) => {
      const answer = this.execHandler({ namespace: exec[1]!, pod: exec[2]!, container: url.searchParams.get('container') ?? '', command: url.searchParams.getAll('command') });
      const frame = (channel: number, text: string) => connection.send(Buffer.concat([Buffer.from([channel]), Buffer.from(text)]));
      if (answer.stdout) frame(1, answer.stdout);
      if (answer.stderr) frame(2, answer.stderr);
      const status =
        answer.exitCode === 0
          ? { metadata: {}, status: 'Success' }
          : { metadata: {}, status: 'Failure', message: `command terminated with non-zero exit code: ${answer.exitCode}`, reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: String(answer.exitCode) }] } };
      frame(3, JSON.stringify(status));
      connection.close();
    });
  }

  /** Ends every open watch, as a dropped connection or an API server restart does. */
  cutWatches(): void {
    for (const collection of Object.values(this.collections)) {
      for (const watch of collection.watches) watch.destroy();
      collection.watches.clear();
    }
  }

  /** Sends each open watch an ERROR event with 410 Gone and ends it, and refuses older resumes. */
  expireWatches(): void {
    this.compactedBefore = this.revision + 1;
    for (const collection of Object.values(this.collections)) {
      for (const watch of collection.watches) {
        watch.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: 'too old resource version' } })}\n`);
      }
      collection.watches.clear();
    }
  }

  /** Every request fails with this status for the given time. */
  failFor(ms: number, status = 500): void {
    this.failUntil = Date.now() + ms;
    this.failStatus = status;
  }

  /** The KubeVirt CR, listed and watched cluster-wide as the webhook does. */
  setKubevirt(object: { apiVersion: string; kind: string; metadata: { name: string; namespace: string; labels?: Record<string, string> }; [field: string]: unknown }): void {
    this.store('kubevirts', structuredClone(object));
  }

  private store(collectionName: 'namespaces' | 'nads' | 'kubevirts', object: StoredObject): void {
    const collection = this.collections[collectionName];
    const key = `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
    const type = collection.objects.has(key) ? 'MODIFIED' : 'ADDED';
    object.metadata.resourceVersion = String(++this.revision);
    collection.objects.set(key, object);
    for (const watch of collection.watches) watch.write(`${JSON.stringify({ type, object })}\n`);
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://fake');
    this.requests.push(`${request.method} ${url.pathname}${url.searchParams.get('watch') ? '?watch' : ''}`);
    const json = (status: number, body: unknown): void => void response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    const status = (code: number, reason: string) => json(code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, code, message: reason });
    if (Date.now() < this.failUntil) return status(this.failStatus, 'InternalError');

    const collectionName = url.pathname === NAMESPACES ? 'namespaces' : url.pathname === NADS ? 'nads' : url.pathname === KUBEVIRTS ? 'kubevirts' : undefined;
    if (collectionName) {
      const collection = this.collections[collectionName];
      if (url.searchParams.get('watch') === 'true') {
        const from = Number(url.searchParams.get('resourceVersion') ?? '0');
        if (from < this.compactedBefore) {
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } })}\n`);
          return;
        }
        response.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
        response.flushHeaders();
        collection.watches.add(response);
        response.on('close', () => collection.watches.delete(response));
        return;
      }
      return json(200, { kind: collection.listKind, apiVersion: collection.apiVersion, metadata: { resourceVersion: String(this.revision) }, items: [...collection.objects.values()] });
    }
    const answerGet = (collection: Collection, key: string) => {
      const object = collection.objects.get(key);
      const reply = () => (object ? json(200, object) : status(404, 'NotFound'));
      if (this.getDelayMs > 0) setTimeout(reply, this.getDelayMs);
      else reply();
    };
    const namespaceItem = NAMESPACE_ITEM.exec(url.pathname);
    if (namespaceItem) return answerGet(this.collections.namespaces, `/${namespaceItem[1]}`);
    const nadItem = NAD_ITEM.exec(url.pathname);
    if (nadItem) return answerGet(this.collections.nads, `${nadItem[1]}/${nadItem[2]}`);
    if (request.method === 'POST') return this.handleCreate(request, url, json);
    if (url.pathname === '/version') return json(200, { major: '1', minor: '34', gitVersion: 'v1.34.2', platform: 'linux/amd64' });
    const other = this.others.get(url.pathname);
    if (other !== undefined && request.method === 'DELETE') {
      this.others.delete(url.pathname);
      this.deleted.push(url.pathname);
      return json(200, { kind: 'Status', apiVersion: 'v1', status: 'Success' });
    }
    if (other !== undefined) return json(200, other);
    const selector = url.searchParams.get('labelSelector');
    const [selectorKey, selectorValue] = selector ? selector.split('=') : [];
    // A list of other objects: every item whose path is this collection's, across Namespaces when the path has none.
    const listed = [...this.others.entries()].filter(([path]) => {
      const plural = url.pathname.split('/').at(-1)!;
      const prefix = url.pathname.slice(0, -plural.length - 1);
      const inCollection = path.startsWith(`${url.pathname}/`) || (!url.pathname.includes('/namespaces/') && path.startsWith(`${prefix}/namespaces/`) && path.split('/').at(-2) === plural);
      const labels = (this.others.get(path) as { metadata?: { labels?: Record<string, string> } }).metadata?.labels ?? {};
      return inCollection && (selectorKey === undefined || labels[selectorKey] === selectorValue);
    });
    if (listed.length > 0 || selector) return json(200, { kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: String(this.revision) }, items: listed.map(([, object]) => object) });
    status(404, 'NotFound');
  }
}
