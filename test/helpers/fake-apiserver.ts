// A small stand-in for kube-apiserver, speaking the list and watch wire format client-node uses:
// lists with a resourceVersion, watches as chunked JSON lines, GETs, 404s and 410 Gone. Tests
// drive it: add objects (pushed to open watches), cut watches, fail every request for a while.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

  constructor() {
    this.server = createServer((request, response) => this.handle(request, response));
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
  setKubevirt(object: { apiVersion: string; kind: string; metadata: { name: string; namespace: string }; [field: string]: unknown }): void {
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
    const other = this.others.get(url.pathname);
    if (other !== undefined) return json(200, other);
    // A list of other objects: every item whose path is this collection's, across Namespaces when the path has none.
    const listed = [...this.others.entries()].filter(([path]) => {
      const plural = url.pathname.split('/').at(-1)!;
      const prefix = url.pathname.slice(0, -plural.length - 1);
      return path.startsWith(`${url.pathname}/`) || (!url.pathname.includes('/namespaces/') && path.startsWith(`${prefix}/namespaces/`) && path.split('/').at(-2) === plural);
    });
    if (listed.length > 0) return json(200, { kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: String(this.revision) }, items: listed.map(([, object]) => object) });
    status(404, 'NotFound');
  }
}
