// The webhook's view of the cluster: Namespaces, NetworkAttachmentDefinitions and the KubeVirt CR
// from informers (cluster/informer.ts); a cache miss falls back to a GET with a 2 s timeout.
// Instancetypes, preferences and ControllerRevisions are read with a GET each time.
import { ApiException, type AppsV1Api, type CoreV1Api, type CustomObjectsApi, type KubernetesObject, makeInformer, type V1Namespace } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { NAD_RESOURCE_NAME_ANNOTATION } from '../api/names.ts';
import type { ClusterClients } from '../cluster/clients.ts';
import { describeError, withTimeout } from '../cluster/errors.ts';
import { customResourceInformer, ResilientInformer } from '../cluster/informer.ts';
import { type KubevirtFacts, kubevirtFacts } from '../cluster/kubevirt-readiness.ts';
import { INSTANCETYPE_GROUP, INSTANCETYPE_VERSION, KUBEVIRT_GROUP, KUBEVIRT_PLURAL, KUBEVIRT_VERSION, NAD_GROUP, NAD_PLURAL, NAD_VERSION } from '../cluster/resources.ts';
import type { ClusterView } from './admit.ts';
import type { MatcherReference } from './instancetypes.ts';
import { ABSENT, failed, found, type Lookup, type NadFacts, type NamespaceFacts } from './lookup.ts';
import type { WebhookMetrics } from './metrics.ts';

export interface ClusterCacheOptions {
  getTimeoutMs: number;
  restartDelayMs: { initial: number; max: number };
}

export const DEFAULT_CLUSTER_CACHE_OPTIONS: ClusterCacheOptions = { getTimeoutMs: 2000, restartDelayMs: { initial: 250, max: 8000 } };

interface NetworkAttachmentDefinition extends KubernetesObject {
  metadata?: { name?: string; namespace?: string; annotations?: Record<string, string> };
}

const namespaceFacts = (namespace: V1Namespace): NamespaceFacts => ({ labels: namespace.metadata?.labels ?? {}, annotations: namespace.metadata?.annotations ?? {} });
const nadFacts = (nad: NetworkAttachmentDefinition): NadFacts => ({ resourceName: nad.metadata?.annotations?.[NAD_RESOURCE_NAME_ANNOTATION] });

export class InformerClusterView implements ClusterView {
  private readonly namespaces: ResilientInformer<V1Namespace>;
  private readonly nads: ResilientInformer<NetworkAttachmentDefinition>;
  /** Not part of `synced`: a cluster without KubeVirt's CRD must not keep the webhook unready. */
  private readonly kubevirts: ResilientInformer<KubernetesObject>;
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly apps: AppsV1Api;
  private readonly metrics: WebhookMetrics;
  private readonly options: ClusterCacheOptions;

  constructor(clients: ClusterClients, log: Logger, metrics: WebhookMetrics, options: ClusterCacheOptions = DEFAULT_CLUSTER_CACHE_OPTIONS) {
    this.core = clients.core;
    this.custom = clients.custom;
    this.apps = clients.apps;
    this.metrics = metrics;
    this.options = options;
    const restarted = (resource: string) => metrics.informerRestarts.inc({ resource });
    this.namespaces = new ResilientInformer(
      'namespaces',
      makeInformer(clients.kubeConfig, '/api/v1/namespaces', () => this.core.listNamespace()),
      log,
      options.restartDelayMs,
      restarted,
    );
    this.nads = new ResilientInformer(NAD_PLURAL, customResourceInformer<NetworkAttachmentDefinition>(clients, { group: NAD_GROUP, version: NAD_VERSION, plural: NAD_PLURAL }), log, options.restartDelayMs, restarted);
    this.kubevirts = new ResilientInformer(KUBEVIRT_PLURAL, customResourceInformer(clients, { group: KUBEVIRT_GROUP, version: KUBEVIRT_VERSION, plural: KUBEVIRT_PLURAL }), log, options.restartDelayMs, restarted);
  }

  get synced(): boolean {
    return this.namespaces.synced && this.nads.synced;
  }

  start(): void {
    this.namespaces.start();
    this.nads.start();
    this.kubevirts.start();
  }

  stop(): void {
    this.namespaces.stop();
    this.nads.stop();
    this.kubevirts.stop();
  }

  /** The KubeVirt CR from its informer; there is one per cluster. */
  kubevirt(): Promise<Lookup<KubevirtFacts>> {
    if (!this.kubevirts.synced) {
      this.metrics.lookups.inc({ resource: KUBEVIRT_PLURAL, source: 'cache', result: 'failed' });
      return Promise.resolve(failed('unreadable (its watch has not synced)'));
    }
    const [cr] = this.kubevirts.list();
    this.metrics.lookups.inc({ resource: KUBEVIRT_PLURAL, source: 'cache', result: cr ? 'found' : 'absent' });
    return Promise.resolve(cr ? found(kubevirtFacts(cr)) : ABSENT);
  }

  cachedCounts(): { namespaces: number; nads: number } {
    return { namespaces: this.namespaces.count(), nads: this.nads.count() };
  }

  namespace(name: string): Promise<Lookup<NamespaceFacts>> {
    return this.lookup('namespaces', this.namespaces.get(name), namespaceFacts, () => this.core.readNamespace({ name }), `Namespace ${name}`);
  }

  nad(key: string): Promise<Lookup<NadFacts>> {
    const [namespace = '', name = ''] = key.split('/');
    return this.lookup(
      NAD_PLURAL,
      this.nads.get(name, namespace),
      nadFacts,
      () => this.custom.getNamespacedCustomObject({ group: NAD_GROUP, version: NAD_VERSION, namespace, plural: NAD_PLURAL, name }) as Promise<NetworkAttachmentDefinition>,
      `NetworkAttachmentDefinition ${key}`,
    );
  }

  /**
   * Instancetypes and preferences are read with a GET each time, not cached: only VMs that name
   * one pay for it, and the webhook needs no list or watch on them (read-only RBAC: get).
   */
  matcher(reference: MatcherReference): Promise<Lookup<unknown>> {
    const { source } = reference;
    if (source.from === 'revision') {
      return this.lookup('controllerrevisions', undefined, (object: unknown) => object, () => this.apps.readNamespacedControllerRevision({ namespace: source.namespace, name: source.name }) as Promise<unknown>, reference.described);
    }
    const common = { group: INSTANCETYPE_GROUP, version: INSTANCETYPE_VERSION, plural: source.plural, name: source.name };
    const get = source.namespace === undefined ? () => this.custom.getClusterCustomObject(common) as Promise<unknown> : () => this.custom.getNamespacedCustomObject({ ...common, namespace: source.namespace! }) as Promise<unknown>;
    return this.lookup(source.plural, undefined, (object: unknown) => object, get, reference.described);
  }

  private async lookup<T, F>(resource: string, cached: T | undefined, facts: (object: T) => F, get: () => Promise<T>, what: string): Promise<Lookup<F>> {
    if (cached !== undefined) {
      this.metrics.lookups.inc({ resource, source: 'cache', result: 'found' });
      return found(facts(cached));
    }
    try {
      const object = await withTimeout(get(), this.options.getTimeoutMs, what);
      this.metrics.lookups.inc({ resource, source: 'api', result: 'found' });
      return found(facts(object));
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) {
        this.metrics.lookups.inc({ resource, source: 'api', result: 'absent' });
        return ABSENT;
      }
      this.metrics.lookups.inc({ resource, source: 'api', result: 'failed' });
      return failed(`${what}: ${describeError(error)}`);
    }
  }
}
