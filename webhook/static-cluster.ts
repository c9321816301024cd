// A ClusterView from given facts, for the offline `mutate` command: the same decision path as the
// server, with the cluster described on the command line.
import type { ClusterView } from './admit.ts';
import type { MatcherReference } from './instancetypes.ts';
import { type KubevirtFacts, kubevirtFacts } from '../cluster/kubevirt-readiness.ts';
import { ABSENT, failed, found, type Lookup, type NadFacts, type NamespaceFacts } from './lookup.ts';

export class StaticClusterView implements ClusterView {
  /** Nothing to sync: the facts are all given up front. */
  readonly synced = true;
  private readonly namespaces: ReadonlyMap<string, NamespaceFacts>;
  private readonly nads: ReadonlyMap<string, NadFacts>;

  /** Instancetypes and preferences by kind (instancetype, preference): the object given for it, whatever it is named. */
  private readonly matchers: ReadonlyMap<string, unknown>;

  private readonly kubevirtObject: unknown;
  private readonly kubevirtMissing: string;

  /** kubevirtMissing: why there is no KubeVirt CR, for the warning: "not given (mutate --kubevirt FILE)". */
  constructor(namespaces: ReadonlyMap<string, NamespaceFacts>, nads: ReadonlyMap<string, NadFacts>, matchers: ReadonlyMap<string, unknown> = new Map(), kubevirt?: unknown, kubevirtMissing = 'not given') {
    this.namespaces = namespaces;
    this.nads = nads;
    this.matchers = matchers;
    this.kubevirtObject = kubevirt;
    this.kubevirtMissing = kubevirtMissing;
  }

  /** Without a KubeVirt CR given, its checks are skipped with a warning that says so (not "not found"). */
  kubevirt(): Promise<Lookup<KubevirtFacts>> {
    return Promise.resolve(this.kubevirtObject === undefined ? failed(this.kubevirtMissing) : found(kubevirtFacts(this.kubevirtObject)));
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
