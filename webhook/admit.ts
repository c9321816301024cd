// One admission, the same for the HTTPS server and the offline `mutate` command: read what the
// cluster knows, then decide.
import type { AdmissionRequest } from './admission-review.ts';
import type { WebhookConfig } from './config.ts';
import type { Lookup, NadFacts, NamespaceFacts } from './lookup.ts';
import { decideAdmission, type Decision, lookupsFor, MUTATED_KINDS, type MutatedKind, skipDecision } from './mutation.ts';

/** Where the webhook reads Namespaces and NetworkAttachmentDefinitions from. */
export interface ClusterView {
  namespace(name: string): Promise<Lookup<NamespaceFacts>>;
  /** key: "namespace/name". */
  nad(key: string): Promise<Lookup<NadFacts>>;
}

export async function admit(request: AdmissionRequest, cluster: ClusterView, config: WebhookConfig): Promise<Decision> {
  const { group, version, kind } = request.kind;
  if (group !== 'kubevirt.io' || version !== 'v1' || !(MUTATED_KINDS as readonly string[]).includes(kind)) {
    return skipDecision(`not a kubevirt.io/v1 VirtualMachine or VirtualMachineInstance: ${group}/${version} ${kind}`);
  }
  const subject = { kind: kind as MutatedKind, operation: request.operation, namespace: request.namespace, object: request.object };
  const needed = lookupsFor(subject);
  const [namespace, ...nads] = await Promise.all([cluster.namespace(needed.namespace), ...needed.nads.map((key) => cluster.nad(key))]);
  return decideAdmission(subject, { namespace: namespace, nads: new Map(needed.nads.map((key, index) => [key, nads[index] as Lookup<NadFacts>])) }, config);
}
