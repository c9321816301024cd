// The API coordinates of the objects this project reads and writes, in one place for the webhook,
// doctor and migration-test.

/** kubevirt.io/v1: VirtualMachines, VMIs, migrations, and the KubeVirt CR. */
export const KUBEVIRT_GROUP = 'kubevirt.io';
export const KUBEVIRT_VERSION = 'v1';
export const KUBEVIRT_PLURAL = 'kubevirts';
export const VM_PLURAL = 'virtualmachines';
export const VMI_PLURAL = 'virtualmachineinstances';
export const MIGRATION_PLURAL = 'virtualmachineinstancemigrations';

/** Instancetypes and preferences (pkg/instancetype). */
export const INSTANCETYPE_GROUP = 'instancetype.kubevirt.io';
export const INSTANCETYPE_VERSION = 'v1beta1';

/** Multus NetworkAttachmentDefinitions. */
export const NAD_GROUP = 'k8s.cni.cncf.io';
export const NAD_VERSION = 'v1';
export const NAD_PLURAL = 'network-attachment-definitions';

/** KubeVirt's Plugins (1.9 and later, cluster-scoped; pkg/virt-operator/resource/generate/components/crds.go NewPluginCrd). */
export const PLUGIN_GROUP = 'plugin.kubevirt.io';
export const PLUGIN_VERSION = 'v1alpha1';
export const PLUGIN_PLURAL = 'plugins';
