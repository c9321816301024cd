import { describeObject } from '../api/errors.ts';
import type { VirtualMachineInstance } from '../api/kubevirt.ts';
import { resolveTuning } from '../api/resolve.ts';
import { parseTuningAnnotations, type Tuning } from '../api/tuning.ts';

/**
 * The tuning the VMI carries. The webhook writes resolved values, so the built-in defaults only
 * fill in for VMIs that did not pass through it.
 */
export function tuningOfVmi(vmi: VirtualMachineInstance): Tuning {
  const subject = describeObject('VirtualMachineInstance', vmi.metadata);
  return resolveTuning({ vm: parseTuningAnnotations(vmi.metadata?.annotations, subject) }).tuning;
}
