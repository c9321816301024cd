// Label and annotation names, and the built-in defaults, that users and both components share.

/** Every label and annotation of ours starts with it (api/keys.ts: which ones, and where each is read). */
export const KEY_PREFIX = 'vduse.kubevirt.io/';

export const LABEL_NAMESPACE_POLICY = `${KEY_PREFIX}policy`;
export const LABEL_VM_ENABLED = `${KEY_PREFIX}enabled`;

export const ANNOTATION_NETWORKS = `${KEY_PREFIX}networks`;
export const ANNOTATION_RX_QUEUE_SIZE = `${KEY_PREFIX}rx-queue-size`;
export const ANNOTATION_TX_QUEUE_SIZE = `${KEY_PREFIX}tx-queue-size`;
export const ANNOTATION_QUEUES = `${KEY_PREFIX}queues`;
export const ANNOTATION_COALESCE = `${KEY_PREFIX}coalesce`;
/**
 * Whether the webhook may turn memory hotplug off for a VM with two or more VDUSE interfaces:
 * "auto" (sets maxGuest to the guest memory) or "keep" (KubeVirt's hotplug as it is).
 */
export const ANNOTATION_MEMORY_HOTPLUG = `${KEY_PREFIX}memory-hotplug`;
/** Annotation-hook mode only: JSON map of VMI network name to device path. */
export const ANNOTATION_DEVICES = `${KEY_PREFIX}devices`;
/** What the webhook added to `addedOverhead`, so a re-invocation adjusts instead of adding twice. */
export const ANNOTATION_MEMLOCK_OVERHEAD = `${KEY_PREFIX}memlock-overhead`;
/**
 * The maxGuest the webhook set (memory-hotplug: auto), so that a later admission tells it from a
 * maxGuest the user wrote: it is the webhook's only while spec.domain.memory.maxGuest still equals it.
 */
export const ANNOTATION_MAX_GUEST = `${KEY_PREFIX}max-guest`;
/**
 * Comma list of what the webhook wrote on the template from defaults rather than from the user:
 * tuning annotation names resolved from the Namespace, the cluster config or the built-ins, and
 * `reservedOverhead.memLock` when the user had not set it. Those are re-resolved on every
 * admission, and removed with the last VDUSE interface.
 */
export const ANNOTATION_DEFAULTED = `${KEY_PREFIX}defaulted`;
export const DEFAULTED_MEMLOCK = 'reservedOverhead.memLock';

/**
 * Namespace annotation: "vduse" declares the pod network VDUSE-backed (the primary CNI publishes
 * device-info for it), so VMs there get their pod network on the vduse binding; "default" says it
 * is not, over the webhook config's podNetwork.
 */
export const ANNOTATION_POD_NETWORK = `${KEY_PREFIX}pod-network`;
export const POD_NETWORK_VALUES = ['vduse', 'default'] as const;
export type PodNetworkKind = (typeof POD_NETWORK_VALUES)[number];
/** The pod network's name in the VMI KubeVirt defaults (pkg/network/vmispec/defaults.go). */
export const DEFAULT_POD_NETWORK_NAME = 'default';

export const NAMESPACE_POLICY_VALUES = ['enabled', 'disabled'] as const;
export type NamespacePolicy = (typeof NAMESPACE_POLICY_VALUES)[number];

/**
 * What is wrong with a Namespace's policy label value, in the words the webhook denies with and
 * `doctor` lists; undefined for a value it knows.
 */
export function namespacePolicyProblem(namespace: string, value: string): string | undefined {
  if ((NAMESPACE_POLICY_VALUES as readonly string[]).includes(value)) return undefined;
  return `Namespace ${namespace}: label ${LABEL_NAMESPACE_POLICY}: got ${JSON.stringify(value)}; expected one of ${NAMESPACE_POLICY_VALUES.join(', ')} (ask the namespace's administrator)`;
}

export const DEFAULT_BINDING_PLUGIN_NAME = 'vduse';
/**
 * The second binding, registered with the sidecar-cloudinit image (the same program, which names
 * this binding itself for KubeVirt 1.8: Dockerfile), whose sidecar also subscribes to
 * PreCloudInitIso. virt-launcher panics when a sidecar subscribes to PreCloudInitIso in a VMI
 * without a cloud-init volume (pkg/hooks/manager.go preCloudInitIsoDataToJSON reads
 * cloudInitData.UserData on nil), and at Info time the sidecar knows only its binding name
 * (NETWORK_BINDING_PLUGIN_NAME, pkg/hooks/hooks.go). So the name carries the decision: the webhook
 * chooses this binding only for VMs that ask for coalescing and have a cloud-init volume.
 */
export const CLOUD_INIT_BINDING_SUFFIX = '-cloudinit';
export const cloudInitBindingName = (bindingName: string): string => `${bindingName}${CLOUD_INIT_BINDING_SUFFIX}`;
/** Both bindings of one plugin: the plain one first, then the cloud-init one. */
export const pluginBindingNames = (bindingName: string): readonly [string, string] => [bindingName, cloudInitBindingName(bindingName)];
/** Whether a sidecar running as this binding subscribes to PreCloudInitIso. */
export const bindingSubscribesToCloudInit = (bindingName: string): boolean => bindingName.endsWith(CLOUD_INIT_BINDING_SUFFIX);
export const DEFAULT_VDUSE_RESOURCE_NAME = 'vduse.io/vduse';
/** The NetworkAttachmentDefinition annotation that names the device-plugin resource behind a network. */
export const NAD_RESOURCE_NAME_ANNOTATION = 'k8s.v1.cni.cncf.io/resourceName';

export const DEFAULT_HOOK_SOCKET_DIR = '/var/run/kubevirt-hooks';
/**
 * The hook socket's file name: one per binding. virt-launcher tracks sockets by file name
 * (pkg/hooks/manager.go, processedSockets keyed on the base name), so two sidecars with one name
 * would count once, and virt-launcher would wait for the other until it timed out.
 */
export const hookSocketName = (bindingName: string): string => `${bindingName}.sock`;
/** Below the socket dir; a folder, because virt-launcher treats every other entry there as a socket. */
export const DEVICE_LINK_DIR_NAME = 'vduse';
export const DEFAULT_NETWORK_INFO_PATH = '/etc/podinfo/network-info';
export const DEFAULT_NETWORK_INFO_TIMEOUT_SECONDS = 30;

/** Where the compute container sees the sidecar's device links: the hooks dir, per sidecar container. */
export function computeViewOfDeviceLink(containerName: string, podInterfaceName: string): string {
  return `${DEFAULT_HOOK_SOCKET_DIR}/${containerName}/${DEVICE_LINK_DIR_NAME}/${podInterfaceName}`;
}
