# What register-jsonpatch.jq and unregister-jsonpatch.jq share: HCO's kubevirt.kubevirt.io/jsonpatch
# annotation on the HyperConverged CR, a JSON Patch (RFC 6902) that HCO applies last to the KubeVirt
# CR it writes (controllers/handlers/kubevirt.go NewKubeVirt, operands.ApplyPatchToSpec), and only to
# paths under /spec/.

def jsonpatch_annotation: "kubevirt.kubevirt.io/jsonpatch";
def feature_gates_path: "/spec/configuration/developerConfiguration/featureGates";
def support_container_resources_path: "/spec/configuration/supportContainerResources";

# "HyperConverged openshift-cnv/kubevirt-hyperconverged": the CR, for messages.
def described: "HyperConverged \(.metadata.namespace // "?")/\(.metadata.name // "?")";

# The annotation's operations ([] without it); an error naming the CR, the annotation, the value and
# what is expected when it is not a JSON Patch (HCO refuses it too).
def annotation_operations:
  described as $cr
  | .metadata.annotations[jsonpatch_annotation] as $raw
  | if $raw == null then []
    # In brackets: jq 1.6 (Debian 12's) lets a bare try catch the errors of what follows it.
    else ([try ($raw | fromjson) catch null] | .[0]) as $operations
      | if ($operations | type) == "array" and all($operations[]; type == "object" and (.op | type) == "string" and (.path | type) == "string")
        then $operations
        else error("\($cr): annotation \(jsonpatch_annotation): got \($raw | tojson | .[:200]); expected a JSON array of JSON Patch operations such as {\"op\": \"add\", \"path\": \"/spec/...\", \"value\": ...}")
        end
    end;

# The record of what the registration added, from the CR's annotation ({} without it).
def registration_record($annotation):
  described as $cr
  | .metadata.annotations[$annotation] as $raw
  | if $raw == null then {}
    else ([try ($raw | fromjson) catch null] | .[0]) as $record
      | if ($record | type) == "object" and (($record.operations // []) | type) == "array" then $record
        else error("\($cr): annotation \($annotation): got \($raw | tojson | .[:200]); expected the JSON object register-jsonpatch.jq writes")
        end
    end;

# The operations without one occurrence of each of $taken: the last, since the registration appends.
def without($taken):
  reduce $taken[] as $operation (.; ([to_entries[] | select(.value == $operation) | .key] | last) as $index | if $index == null then . else del(.[$index]) end);

# A key as one token of a JSON pointer (RFC 6901).
def pointer_token: gsub("~"; "~0") | gsub("/"; "~1");

# Whether a JSON pointer is $target, one of its parents, or under it.
def touches($target): . as $path | ($target + "/" | startswith($path + "/")) or startswith($target + "/");

# A JSON pointer as a jq path on the document ., array indices as numbers ("-": the end).
def typed_path($pointer):
  . as $document
  | reduce ($pointer | ltrimstr("/") | split("/") | map(gsub("~1"; "/") | gsub("~0"; "~")))[] as $token ([];
      . as $path | ($document | getpath($path)) as $at
      | $path + [if ($at | type) == "array" then (if $token == "-" then ($at | length) else ($token | tonumber) end) else $token end]);

# The document after one operation that writes (add, replace, remove; test changes nothing); an
# error where it could not apply, as HCO's JSON Patch library would refuse it.
def apply_operation($operation):
  typed_path($operation.path) as $path
  | (getpath($path[:-1]) | type) as $parent
  | if ($operation.op | IN("add", "replace", "remove", "test") | not) then
      error("cannot tell what the operation \($operation | tojson) in the annotation \(jsonpatch_annotation) does; expected add, replace, remove or test")
    elif $parent != "array" and $parent != "object" then
      error("the operation \($operation | tojson) in the annotation \(jsonpatch_annotation) does not apply without the operations before it: nothing is at /\($path[:-1] | map(tostring) | join("/")) (this project's own operations are taken out first; does it rely on them? change or remove it)")
    elif $operation.op == "add" and $parent == "array" then setpath($path[:-1]; getpath($path[:-1]) | .[:$path[-1]] + [$operation.value] + .[$path[-1]:])
    elif $operation.op == "add" or $operation.op == "replace" then setpath($path; $operation.value)
    elif $operation.op == "remove" then delpaths([$path])
    else . end;

# What the operations make of spec.configuration.supportContainerResources, which HCO itself never
# writes (null when none of them does).
def support_container_resources:
  reduce (.[] | select(.path | touches(support_container_resources_path))) as $operation
    ({spec: {configuration: {}}}; apply_operation($operation))
  | .spec.configuration.supportContainerResources;

# Whether an operation writes $gate into the feature gates (HCO's own feature gates cannot turn it on).
def writes_gate($gate):
  any(.[] | select((.op == "add" or .op == "replace") and (.path | touches(feature_gates_path))); [.value | .. | strings] | index($gate) != null);
