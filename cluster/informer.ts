// client-node informers that restart themselves with backoff: a ListWatch that gets an error (a
// failed list, a watch refused with 500) calls its error callbacks and stops for good.
import { type KubernetesObject, makeInformer } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ClusterClients } from './clients.ts';
import { describeError } from './errors.ts';

export interface RestartDelay {
  initial: number;
  max: number;
}

type Informer<T extends KubernetesObject> = ReturnType<typeof makeInformer<T>>;

/** One informer that restarts itself after errors and knows whether its cache is usable. */
export class ResilientInformer<T extends KubernetesObject> {
  synced = false;
  private stopped = false;
  private delayMs: number;
  private timer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private readonly informer: Informer<T>;
  private readonly resource: string;
  private readonly log: Logger;
  private readonly restartDelay: RestartDelay;
  private readonly onRestart: (resource: string) => void;

  constructor(resource: string, informer: Informer<T>, log: Logger, restartDelay: RestartDelay, onRestart: (resource: string) => void = () => undefined) {
    this.resource = resource;
    this.informer = informer;
    this.log = log;
    this.restartDelay = restartDelay;
    this.onRestart = onRestart;
    this.delayMs = restartDelay.initial;
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
        this.delayMs = this.restartDelay.initial;
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
    this.onRestart(this.resource);
    const delay = this.delayMs * (0.8 + Math.random() * 0.4);
    this.log.warn({ resource: this.resource, error: describeError(error), retryInMs: Math.round(delay) }, 'watch failed; restarting');
    this.delayMs = Math.min(this.delayMs * 2, this.restartDelay.max);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) this.start();
    }, delay);
  }
}

/** A cluster-wide informer on a custom resource, listed through the clients' CustomObjectsApi. */
export function customResourceInformer<T extends KubernetesObject>(clients: ClusterClients, coordinates: { group: string; version: string; plural: string }): Informer<T> {
  const { group, version, plural } = coordinates;
  return makeInformer(clients.kubeConfig, `/apis/${group}/${version}/${plural}`, () => clients.custom.listClusterCustomObject({ group, version, plural }) as Promise<{ items: T[] }>);
}
