// Which interfaces get VDUSE, and what each becomes: binding {name: <plugin>}, with the other
// binding methods removed and everything else the user set (MAC, PCI address, boot order, ACPI
// index, ...) kept.
import type { Interface, Network } from '../api/kubevirt.ts';
import { ANNOTATION_NETWORKS } from '../api/names.ts';
import { type Lookup, type NadFacts, nadKey } from './lookup.ts';

/** The binding methods an interface can have; KubeVirt accepts exactly one. */
const BINDING_METHODS = ['bridge', 'masquerade', 'sriov', 'passt', 'slirp', 'macvtap', 'passtBinding', 'binding'] as const;

export type NetworkChoice =
  | {
      chosen: string[];
      unreadable: { network: string; reason: string }[];
      /** Networks whose NetworkAttachmentDefinition does not exist (yet), and the reference as written. */
      missing: { network: string; nad: string }[];
    }
  | { denied: string };

export interface ChoiceInput {
  subject: string;
  /** Where the networks are, for messages: "spec.template.spec.networks" or "spec.networks". */
  networksPath: string;
  objectNamespace: string;
  networks: readonly Network[];
  /** From vduse.kubevirt.io/networks on the VM or the Namespace; undefined when neither names any. */
  named: readonly string[] | undefined;
  /** Where `named` came from: a VM's own names must exist; a Namespace's are a default, and names a VM lacks are ignored. */
  namedBy: 'vm' | 'namespace' | 'config';
  /** The pod network is VDUSE-backed (Namespace annotation or cluster config): it is chosen too. */
  podNetworkIsVduse: boolean;
  resourceName: string;
  nads: ReadonlyMap<string, Lookup<NadFacts>>;
}

/** The NetworkAttachmentDefinitions the choice may need, as "namespace/name". */
export function referencedNads(networks: readonly Network[], objectNamespace: string): string[] {
  return [...new Set(networks.flatMap((network) => (network.multus?.networkName ? [nadKey(network.multus.networkName, objectNamespace)] : [])))];
}

export function chooseNetworks(input: ChoiceInput): NetworkChoice {
  const podNetworks = input.podNetworkIsVduse ? input.networks.filter((network) => network.pod !== undefined).map((network) => network.name) : [];
  if (input.named !== undefined) {
    const known = new Set(input.networks.map((network) => network.name));
    const missing = input.named.filter((name) => !known.has(name));
    if (missing.length > 0 && input.namedBy === 'vm') {
      return {
        denied: `${input.subject}: annotation ${ANNOTATION_NETWORKS} names ${missing.map((name) => JSON.stringify(name)).join(', ')}, which ${input.networksPath} does not have (it has ${[...known].join(', ') || 'none'})`,
      };
    }
    return { chosen: [...new Set([...input.named.filter((name) => known.has(name)), ...podNetworks])], unreadable: [], missing: [] };
  }
  const chosen: string[] = [...podNetworks];
  const unreadable: { network: string; reason: string }[] = [];
  const missing: { network: string; nad: string }[] = [];
  for (const network of input.networks) {
    const reference = network.multus?.networkName;
    if (!reference) continue;
    const lookup = input.nads.get(nadKey(reference, input.objectNamespace));
    if (lookup === undefined || lookup.state === 'failed') {
      unreadable.push({ network: network.name, reason: lookup?.state === 'failed' ? lookup.reason : 'not looked up' });
    } else if (lookup.state === 'absent') {
      missing.push({ network: network.name, nad: reference });
    } else if (lookup.value.resourceName === input.resourceName) {
      chosen.push(network.name);
    }
  }
  return { chosen, unreadable, missing };
}

/**
 * The interface with VDUSE binding, or a reason it cannot have it. keepOff: what keeps this
 * interface off VDUSE instead, for the denial ("take the interface out of ...").
 */
export function convertInterface(iface: Interface, pluginName: string, subject: string, path: string, keepOff: string): Interface | { denied: string } {
  if (iface.model !== undefined && iface.model !== 'virtio') {
    return {
      denied: `${subject}: ${path}.model: interface ${JSON.stringify(iface.name)} has model ${JSON.stringify(iface.model)}; VDUSE needs "virtio" (or no model): remove the model, or ${keepOff}`,
    };
  }
  const kept = Object.fromEntries(Object.entries(iface).filter(([field]) => !(BINDING_METHODS as readonly string[]).includes(field)));
  // virtio written out: a preference's preferredInterfaceModel fills only an empty model
  // (pkg/instancetype/preference/apply/interface.go), and vdpa takes nothing but virtio.
  return { ...kept, name: iface.name, model: 'virtio', binding: { name: pluginName } };
}
