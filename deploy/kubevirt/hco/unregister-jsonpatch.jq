# The reverse of register-jsonpatch.jq, computed from the live HyperConverged CR: a JSON patch that
# takes out of HCO's kubevirt.kubevirt.io/jsonpatch annotation exactly the operations the
# registration recorded in vduse.kubevirt.io/registration, leaves the others' operations as they
# are, removes the annotation if the registration created it and nothing else is left in it, and
# removes the record. Usage in docs/install.md (Uninstall). It tests the CR's resourceVersion first.
include "bindings" {search: "../"};
include "jsonpatch" {search: "./"};

(.metadata.annotations // {}) as $annotations
| registration_record(record_annotation) as $record
| (annotation_operations | without($record.operations // [])) as $remaining
# The others' operations must still apply without ours: an error, before anything changes, if not.
| ($remaining | support_container_resources) as $checked
| ($annotations
   | del(.[record_annotation])
   | if has(jsonpatch_annotation) | not then .
     elif $remaining == [] and $record.createdAnnotation then del(.[jsonpatch_annotation])
     else .[jsonpatch_annotation] = ($remaining | tojson)
     end
  ) as $after
| [ (if .metadata.resourceVersion then {op: "test", path: "/metadata/resourceVersion", value: .metadata.resourceVersion} else empty end),
    (if $annotations[record_annotation] == null then empty
     elif $after == {} and $record.createdAnnotations then {op: "remove", path: "/metadata/annotations"}
     else
       ($annotations | keys[] | . as $key | select($after | has($key) | not) | {op: "remove", path: "/metadata/annotations/\(pointer_token)"}),
       ($after | to_entries[] | select($annotations[.key] != .value) | {op: "add", path: "/metadata/annotations/\(.key | pointer_token)", value: .value})
     end)
  ]
