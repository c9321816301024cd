// A ClusterView from given facts, for the offline `mutate` command: the same decision path as the
// server, with the cluster described on the command line.
import type { ClusterView } from './admit.ts';
import { ABSENT, found, type Lookup, type NadFacts, type NamespaceFacts } from './lookup.ts';

export class StaticClusterView implements ClusterView {
  /** Nothing to sync: the facts are all given up front. */
  readonly synced = true;
  private readonly namespaces: ReadonlyMap<string, NamespaceFacts>;
  private readonly nads: ReadonlyMap<string, NadFacts>;

  constructor(namespaces: ReadonlyMap<string, NamespaceFacts>, nads: ReadonlyMap<string, NadFacts>) {
    this.namespaces = namespaces;
    this.nads = nads;
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
