// Whether a VM wants VDUSE: the Namespace policy label and the VM's own opt-in or opt-out label.
import { LABEL_NAMESPACE_POLICY, LABEL_VM_ENABLED, type NamespacePolicy, namespacePolicyProblem } from '../api/names.ts';
import type { NamespaceFacts } from './lookup.ts';

export type OptIn =
  /** by: what asks for it, in two words for a warning ("VM label", "Namespace policy"). */
  | { wanted: true; because: string; by: string }
  | { wanted: false; because: string }
  | { denied: string };

const VM_LABEL_VALUES = ['true', 'false'] as const;

/**
 * labels: the VM's own labels over its template's (for a bare VMI, its own).
 * namespace: undefined when it could not be read and the config says to go on without it.
 */
export function decideOptIn(subject: string, namespaceName: string, labels: Readonly<Record<string, string>>, namespace: NamespaceFacts | undefined): OptIn {
  const vmLabel = labels[LABEL_VM_ENABLED];
  if (vmLabel !== undefined && !(VM_LABEL_VALUES as readonly string[]).includes(vmLabel)) {
    return { denied: `${subject}: label ${LABEL_VM_ENABLED}: got ${JSON.stringify(vmLabel)}; expected "true" or "false"` };
  }
  const policyLabel = namespace?.labels[LABEL_NAMESPACE_POLICY];
  // The namespace-policy webhook is sent every Namespace with a policy other than "disabled", so a
  // misspelt one is refused here rather than ignored (deploy/base/mutating-webhook.yaml).
  const policyProblem = policyLabel === undefined ? undefined : namespacePolicyProblem(namespaceName, policyLabel);
  if (policyProblem !== undefined) return { denied: policyProblem };
  const policy = policyLabel as NamespacePolicy | undefined;
  if (policy === 'disabled') {
    if (vmLabel === 'true') {
      return {
        denied: `${subject} asks for VDUSE networking (${LABEL_VM_ENABLED}=true), but Namespace ${namespaceName} has ${LABEL_NAMESPACE_POLICY}=disabled; remove the label from the VM or ask the namespace's administrator`,
      };
    }
    return { wanted: false, because: `Namespace ${namespaceName} has ${LABEL_NAMESPACE_POLICY}=disabled` };
  }
  if (vmLabel === 'true') return { wanted: true, because: `${LABEL_VM_ENABLED}=true`, by: 'VM label' };
  if (vmLabel === 'false') return { wanted: false, because: `${LABEL_VM_ENABLED}=false` };
  if (policy === 'enabled') return { wanted: true, because: `Namespace ${namespaceName} has ${LABEL_NAMESPACE_POLICY}=enabled`, by: 'Namespace policy' };
  return { wanted: false, because: 'no opt-in label on the VM or its Namespace' };
}
