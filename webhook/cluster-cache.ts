// Namespaces and NetworkAttachmentDefinitions from client-node informers, restarted with backoff:
// a ListWatch that gets an error (a failed list, a watch refused with 500) calls its error
// callbacks and stops for good. A cache miss falls back to a GET with a 2 s timeout.
import { ApiException, AppsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig, type KubernetesObject, makeInformer, type V1Namespace } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { NAD_RESOURCE_NAME_ANNOTATION } from '../api/names.ts';
import type { ClusterView } from './admit.ts';
import { INSTANCETYPE_GROUP, INSTANCETYPE_VERSION, type MatcherReference } from './instancetypes.ts';
import { KUBEVIRT_GROUP, KUBEVIRT_PLURAL, KUBEVIRT_VERSION, type KubevirtFacts, kubevirtFacts } from './kubevirt-readiness.ts';
import { ABSENT, failed, found, type Lookup, type NadFacts, type NamespaceFacts } from './lookup.ts';
import type { WebhookMetrics } from './metrics.ts';

export const NAD_GROUP = 'k8s.cni.cncf.io';
export const NAD_VERSION = 'v1';
export const NAD_PLURAL = 'network-attachment-definitions';

export interface ClusterCacheOptions {
  getTimeoutMs: number;
  restartDelayMs: { initial: number; max: number };
}

export const DEFAULT_CLUSTER_CACHE_OPTIONS: ClusterCacheOptions = { getTimeoutMs: 2000, restartDelayMs: { initial: 250, max: 8000 } };

type Informer<T extends KubernetesObject> = ReturnType<typeof makeInformer<T>>;

/** One informer that restarts itself after errors and knows whether its cache is usable. */
class ResilientInformer<T extends KubernetesObject> {
  synced = false;
  private stopped = false;
  private delayMs: number;
  private timer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private readonly informer: Informer<T>;
  private readonly resource: string;
  private readonly log: Logger;
  private readonly metrics: WebhookMetrics;
  private readonly options: ClusterCacheOptions;

  constructor(resource: string, informer: Informer<T>, log: Logger, metrics: WebhookMetrics, options: ClusterCacheOptions) {
    this.resource = resource;
    this.informer = informer;
    this.log = log;
    this.metrics = metrics;
    this.options = options;
    this.delayMs = options.restartDelayMs.initial;
    informer.on('error', (error: unknown) => this.failed(error));
  }

  get(name: string, namespace?: string): T | undefined {
    return this.informer.get(name, namespace);
  }

  count(): number {
    return this.informer.list().length;
  }

  list(): readonly T[] {
    return this.informer.list();
  }

  start(): void {
    this.stopped = false;
    const attempt = ++this.attempt;
    void this.informer.start().then(() => {
      // start() also returns after a failed list; only a list that got through (no error since
      // this attempt began) makes the cache usable.
      if (attempt === this.attempt && !this.stopped && this.timer === undefined) {
        this.synced = true;
        this.delayMs = this.options.restartDelayMs.initial;
        this.log.info({ resource: this.resource, objects: this.count() }, 'cache synced');
      }
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    void this.informer.stop();
  }

  private failed(error: unknown): void {
    this.synced = false;
    if (this.stopped || this.timer !== undefined) return;
    this.metrics.informerRestarts.inc({ resource: this.resource });
    const delay = this.delayMs * (0.8 + Math.random() * 0.4);
    this.log.warn({ resource: this.resource, error: describeError(error), retryInMs: Math.round(delay) }, 'watch failed; restarting');
    this.delayMs = Math.min(this.delayMs * 2, this.options.restartDelayMs.max);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) this.start();
    }, delay);
  }
}

export function describeError(error: unknown): string {
  if (error instanceof ApiException) return `HTTP ${error.code}`;
  if (error instanceof Error) return error.message;
  return String(error);
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer from the API server within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

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

  constructor(kubeConfig: KubeConfig, log: Logger, metrics: WebhookMetrics, options: ClusterCacheOptions = DEFAULT_CLUSTER_CACHE_OPTIONS) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.apps = kubeConfig.makeApiClient(AppsV1Api);
    this.metrics = metrics;
    this.options = options;
    this.namespaces = new ResilientInformer(
      'namespaces',
      makeInformer(kubeConfig, '/api/v1/namespaces', () => this.core.listNamespace()),
      log,
      metrics,
      options,
    );
    /** A cluster-wide informer on a custom resource, listed through the CustomObjectsApi. */
    const customInformer = <T extends KubernetesObject>(group: string, version: string, plural: string) =>
      new ResilientInformer<T>(
        plural,
        makeInformer(kubeConfig, `/apis/${group}/${version}/${plural}`, () => this.custom.listClusterCustomObject({ group, version, plural }) as Promise<{ items: T[] }>),
        log,
        metrics,
        options,
      );
    this.nads = customInformer<NetworkAttachmentDefinition>(NAD_GROUP, NAD_VERSION, NAD_PLURAL);
    this.kubevirts = customInformer(KUBEVIRT_GROUP, KUBEVIRT_VERSION, KUBEVIRT_PLURAL);
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
      return Promise.resolve(failed('the KubeVirt CR watch is not synced'));
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
