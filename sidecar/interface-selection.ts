// Which VMI interfaces the sidecar converts.
import { type VirtualMachineInstance, vmiInterfaces } from '../api/kubevirt.ts';
import type { Tuning } from '../api/tuning.ts';

export interface InterfaceSelectionOptions {
  bindingName: string;
  /**
   * Annotation-hook mode: the sidecar runs through hooks.kubevirt.io/hookSidecars rather than as a
   * binding plugin, so the networks annotation also selects interfaces.
   */
  annotationHook: boolean;
}

/** Interface names in VMI order: those bound to the plugin, plus the annotated networks in annotation-hook mode. */
export function selectInterfaces(vmi: VirtualMachineInstance, tuning: Tuning, options: InterfaceSelectionOptions): string[] {
  const annotated = new Set(options.annotationHook ? (tuning.networks ?? []) : []);
  return vmiInterfaces(vmi)
    .filter((iface) => iface.state !== 'absent')
    .filter((iface) => iface.binding?.name === options.bindingName || annotated.has(iface.name))
    .map((iface) => iface.name);
}
