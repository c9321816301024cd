# The reverse of register-vduse.jq, computed from the live KubeVirt CR: a JSON patch that removes
# the vduse and vduse-cloudinit bindings, and only what the registration recorded in the annotation
# vduse.kubevirt.io/registration that it added: the ReservedOverheadMemlock gate if it was not there
# before, the sidecar memory entry it added (or the limit it raised, set back), the parents it
# created once they are empty, and the record itself. Usage in docs/install.md (Uninstall). Like the
# registration, it tests the CR's resourceVersion first. --arg binding NAME as for the registration.
include "bindings" {search: "./"};

(.metadata.annotations[record_annotation] // null) as $raw
| ($raw // "{}" | fromjson) as $record
| (.spec.configuration // null) as $before
| (.spec
   | if .configuration.network.binding then del(.configuration.network.binding[binding_name, cloudinit_binding_name]) else . end
   | if $record.featureGate == "added" and .configuration.developerConfiguration.featureGates
       then .configuration.developerConfiguration.featureGates |= map(select(. != memlock_feature_gate)) else . end
   # The entry the registration added, or the limit it raised: the first sidecar entry at its limit.
   | if $record.sidecarMemory == "added" or ($record.sidecarMemory | type) == "object" then
       .configuration.supportContainerResources |= (
         [to_entries[] | select(.value.type == "sidecar" and .value.resources.limits.memory == sidecar_memory_limit) | .key][0] as $index
         | if $index == null then .
           elif $record.sidecarMemory == "added" then del(.[$index])
           else .[$index].resources.limits.memory = $record.sidecarMemory.raisedFrom end)
     else . end
   # Deepest first, and only when empty: something another tool put there since stays.
   | reduce (($record.createdParents // []) | sort_by(length) | reverse[]) as $path (.;
       if (getpath($path) | . == {} or . == []) then delpaths([$path]) else . end)
  ) as $spec
| [ (if .metadata.resourceVersion then {op: "test", path: "/metadata/resourceVersion", value: .metadata.resourceVersion} else empty end),
    (if $spec.configuration != null then {op: "add", path: "/spec/configuration", value: $spec.configuration}
     elif $before != null then {op: "remove", path: "/spec/configuration"}
     else empty end),
    (if $raw == null then empty
     elif $record.createdAnnotations and (.metadata.annotations | keys) == [record_annotation] then {op: "remove", path: "/metadata/annotations"}
     else {op: "remove", path: "/metadata/annotations/\(record_annotation | gsub("/"; "~1"))"}
     end)
  ]
