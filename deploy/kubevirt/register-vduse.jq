# Registers this project in a KubeVirt CR: a JSON patch computed from the live CR, so that it applies
# to any CR (a stock one has no network.binding or supportContainerResources) and can be applied
# again (an upgrade of the sidecar image is the same command with the new image). Usage:
#
#   kubectl patch kubevirt kubevirt -n kubevirt --type json -p "$(kubectl get kubevirt kubevirt -n kubevirt -o json \
#     | jq -c -f deploy/kubevirt/register-vduse.jq --arg image REGISTRY/kubevirt-vduse/sidecar:0.1.0)"
#
# It sets, keyed on the binding name, the vduse and vduse-cloudinit bindings; adds the
# ReservedOverheadMemlock feature gate unless it is there; gives sidecars at least 128M of memory
# (an entry of type sidecar in supportContainerResources, added, or raised when smaller); and records
# in the annotation vduse.kubevirt.io/registration what it added, created or raised, which
# unregister-vduse.jq reads to take back exactly that. The patch first tests the CR's
# resourceVersion: if the CR changed after it was read, kubectl patch fails and nothing is changed;
# read it again. Arguments: --arg image (required), --arg cloudinitImage, --arg binding (bindings.jq).
include "bindings" {search: "./"};

(.metadata.annotations[record_annotation] // "{}" | fromjson) as $previous
| (.spec.configuration // null) as $before
| ($before // {}) as $configuration
# Parents that the registration creates, as paths under spec, for unregister-vduse.jq.
| [ (if $before == null then ["configuration"] else empty end),
    (if $configuration.network == null then ["configuration", "network"] else empty end),
    (if $configuration.network.binding == null then ["configuration", "network", "binding"] else empty end),
    (if $configuration.developerConfiguration == null then ["configuration", "developerConfiguration"] else empty end),
    (if $configuration.developerConfiguration.featureGates == null then ["configuration", "developerConfiguration", "featureGates"] else empty end),
    (if $configuration.supportContainerResources == null then ["configuration", "supportContainerResources"] else empty end)
  ] as $createdParents
| ($configuration | sidecar_entry_index) as $sidecarIndex
| ($configuration.supportContainerResources | sidecar_memory_change) as $sidecarMemory
| ($configuration
   | .network.binding += vduse_bindings
   | .developerConfiguration.featureGates |= (. // [] | if index(memlock_feature_gate) then . else . + [memlock_feature_gate] end)
   | if $sidecarMemory == "added" then .supportContainerResources = (.supportContainerResources // []) + [{type: "sidecar", resources: {limits: {memory: sidecar_memory_limit}}}]
     elif $sidecarMemory == "present" then .
     else .supportContainerResources[$sidecarIndex].resources.limits.memory = sidecar_memory_limit
     end) as $after
# A record already on the CR wins: applied again, the gate is there because the first run added it.
| {
    featureGate: ($previous.featureGate // (if ($configuration.developerConfiguration.featureGates // []) | index(memlock_feature_gate) then "present" else "added" end)),
    sidecarMemory: ($previous.sidecarMemory // $sidecarMemory),
    createdParents: (($previous.createdParents // []) + $createdParents | unique),
    createdAnnotations: ($previous.createdAnnotations // (.metadata.annotations == null))
  } as $record
| [ (if .metadata.resourceVersion then {op: "test", path: "/metadata/resourceVersion", value: .metadata.resourceVersion} else empty end),
    {op: "add", path: "/spec/configuration", value: $after},
    (if .metadata.annotations == null
       then {op: "add", path: "/metadata/annotations", value: {(record_annotation): ($record | tojson)}}
       else {op: "add", path: "/metadata/annotations/\(record_annotation | gsub("/"; "~1"))", value: ($record | tojson)}
     end)
  ]
