// One admission, the same for the HTTPS server and the offline `mutate` command: read what the
// cluster knows, then decide.
import type { AdmissionRequest } from './admission-review.ts';
import type { WebhookConfig } from './config.ts';
import type { Lookup, NadFacts, NamespaceFacts } from './lookup.ts';
import type { MatcherReference } from './instancetypes.ts';
import type { KubevirtFacts } from '../cluster/kubevirt-readiness.ts';
import { decideAdmission, type Decision, lookupsFor, matchersFor, MUTATED_KINDS, type MutatedKind, skipDecision } from './mutation.ts';

/** Where the webhook reads Namespaces and NetworkAttachmentDefinitions from. */
export interface ClusterView {
  namespace(name: string): Promise<Lookup<NamespaceFacts>>;
  /** key: "namespace/name". */
  nad(key: string): Promise<Lookup<NadFacts>>;
  /** An instancetype or preference, or the ControllerRevision that holds it: the object as read. */
  matcher(reference: MatcherReference): Promise<Lookup<unknown>>;
  /** The cluster's KubeVirt CR. */
  kubevirt(): Promise<Lookup<KubevirtFacts>>;
}

export async function admit(request: AdmissionRequest, cluster: ClusterView, config: WebhookConfig): Promise<Decision> {
  const { group, version, kind } = request.kind;
  if (group !== 'kubevirt.io' || version !== 'v1' || !(MUTATED_KINDS as readonly string[]).includes(kind)) {
    return skipDecision(`not a kubevirt.io/v1 VirtualMachine or VirtualMachineInstance: ${group}/${version} ${kind}`);
  }
  const subject = { kind: kind as MutatedKind, operation: request.operation, namespace: request.namespace, object: request.object, oldObject: request.oldObject };
  const needed = lookupsFor(subject);
  const references = matchersFor(subject);
  const [namespace, nads, matched, kubevirt] = await Promise.all([
    cluster.namespace(needed.namespace),
    Promise.all(needed.nads.map((key) => cluster.nad(key))),
    Promise.all(references.map((reference) => cluster.matcher(reference))),
    cluster.kubevirt(),
  ]);
  return decideAdmission(
    subject,
    {
      namespace,
      nads: new Map(needed.nads.map((key, index) => [key, nads[index]!])),
      matchers: Object.fromEntries(references.map((reference, index) => [reference.kind, matched[index]!])),
      kubevirt,
    },
    config,
  );
}
