# Gives OpenShift Virtualization's KubeVirt CR the ReservedOverheadMemlock feature gate and the
# sidecar memory, which the HyperConverged CR has no field for, through HCO's
# kubevirt.kubevirt.io/jsonpatch annotation. It reads the live HyperConverged CR and prints a JSON
# patch for it that merges with the operations already in the annotation. Usage
# (deploy/kubevirt/README.md):
#
#   oc patch hyperconverged kubevirt-hyperconverged -n openshift-cnv --type json -p "$(oc get hyperconverged \
#     kubevirt-hyperconverged -n openshift-cnv -o json | jq -c -f deploy/kubevirt/hco/register-jsonpatch.jq)"
#
# It appends to the annotation's operations only what they lack: the gate, unless an operation
# already writes it; a sidecar entry in supportContainerResources with the shipped limit, or, where
# the operations give sidecars less, an operation that raises that limit (other containers' entries
# stay). HCO writes neither field itself. It records the operations it appended in the annotation
# vduse.kubevirt.io/registration, which unregister-jsonpatch.jq reads to take back exactly those.
# Applied again, it computes the same from the others' operations. Like register-vduse.jq, the patch
# first tests the CR's resourceVersion.
include "bindings" {search: "../"};
include "jsonpatch" {search: "./"};

(.metadata.annotations // {}) as $annotations
| registration_record(record_annotation) as $previous
# The others' operations: all but what an earlier run appended.
| (annotation_operations | without($previous.operations // [])) as $others
| ($others | writes_gate(memlock_feature_gate)) as $gated
| ($others | support_container_resources) as $resources
| ($resources | sidecar_memory_change) as $sidecarMemory
| {type: "sidecar", resources: {limits: {memory: sidecar_memory_limit}}} as $sidecarEntry
| [ (if $gated then empty else {op: "add", path: "\(feature_gates_path)/-", value: memlock_feature_gate} end),
    (if $sidecarMemory == "present" then empty
     elif $sidecarMemory == "added" and $resources == null then {op: "add", path: support_container_resources_path, value: [$sidecarEntry]}
     elif $sidecarMemory == "added" then {op: "add", path: "\(support_container_resources_path)/-", value: $sidecarEntry}
     else {op: "replace", path: "\(support_container_resources_path)/\({supportContainerResources: $resources} | sidecar_entry_index)/resources/limits/memory", value: sidecar_memory_limit}
     end)
  ] as $ours
| {
    operations: $ours,
    featureGate: (if $gated then "present" else "added" end),
    sidecarMemory: $sidecarMemory,
    # A record already on the CR wins: applied again, the annotation is there because the first run made it.
    createdAnnotation: ($previous.createdAnnotation // ($annotations[jsonpatch_annotation] == null)),
    createdAnnotations: ($previous.createdAnnotations // (.metadata.annotations == null))
  } as $record
| ($others + $ours) as $operations
# No annotation where none is needed: its mere presence marks HCO's configuration tainted.
| ($annotations
   | .[record_annotation] = ($record | tojson)
   | if $operations == [] and (has(jsonpatch_annotation) | not) then . else .[jsonpatch_annotation] = ($operations | tojson) end
  ) as $after
| [ (if .metadata.resourceVersion then {op: "test", path: "/metadata/resourceVersion", value: .metadata.resourceVersion} else empty end),
    (if .metadata.annotations == null then {op: "add", path: "/metadata/annotations", value: $after}
     else ($after | to_entries[] | select($annotations[.key] != .value) | {op: "add", path: "/metadata/annotations/\(.key | pointer_token)", value: .value})
     end)
  ]
