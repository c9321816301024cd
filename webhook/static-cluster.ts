// A ClusterView from given facts, for the offline `mutate` command: the same decision path as the
// server, with the cluster described on the command line.
import type { ClusterView } from './admit.ts';
import type { MatcherReference } from './instancetypes.ts';
import { type KubevirtFacts, kubevirtFacts } from '../cluster/kubevirt-readiness.ts';
import { ABSENT, found, type Lookup, type NadFacts, type NamespaceFacts } from './lookup.ts';

export class StaticClusterView implements ClusterView {
  /** Nothing to sync: the facts are all given up front. */
  readonly synced = true;
  private readonly namespaces: ReadonlyMap<string, NamespaceFacts>;
  private readonly nads: ReadonlyMap<string, NadFacts>;

  /** Instancetypes and preferences by kind (instancetype, preference): the object given for it, whatever it is named. */
  private readonly matchers: ReadonlyMap<string, unknown>;

  private readonly kubevirtObject: unknown;

  constructor(namespaces: ReadonlyMap<string, NamespaceFacts>, nads: ReadonlyMap<string, NadFacts>, matchers: ReadonlyMap<string, unknown> = new Map(), kubevirt?: unknown) {
    this.namespaces = namespaces;
    this.nads = nads;
    this.matchers = matchers;
    this.kubevirtObject = kubevirt;
  }

  kubevirt(): Promise<Lookup<KubevirtFacts>> {
    return Promise.resolve(this.kubevirtObject === undefined ? ABSENT : found(kubevirtFacts(this.kubevirtObject)));
  }

  matcher(reference: MatcherReference): Promise<Lookup<unknown>> {
    const object = this.matchers.get(reference.kind);
    return Promise.resolve(object === undefined ? ABSENT : found(object));
  }

  namespace(name: string): Promise<Lookup<NamespaceFacts>> {
    const facts = this.namespaces.get(name);
    return Promise.resolve(facts ? found(facts) : ABSENT);
  }

  nad(key: string): Promise<Lookup<NadFacts>> {
    const facts = this.nads.get(key);
    return Promise.resolve(facts ? found(facts) : ABSENT);
  }
}
