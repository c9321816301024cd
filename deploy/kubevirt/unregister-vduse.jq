# The reverse of register-vduse.json, computed from the live KubeVirt CR (indexes differ per
# cluster): a JSON patch that removes the vduse and vduse-cloudinit bindings, the
# ReservedOverheadMemlock feature gate and the 128M sidecar entry. Usage in docs/install.md.
[
  (.spec.configuration.network.binding // {} | keys[] | select(. == "vduse" or . == "vduse-cloudinit")
    | {op: "remove", path: "/spec/configuration/network/binding/\(.)"}),
  (.spec.configuration.developerConfiguration.featureGates // [] | to_entries
    | map(select(.value == "ReservedOverheadMemlock")) | reverse[]
    | {op: "remove", path: "/spec/configuration/developerConfiguration/featureGates/\(.key)"}),
  (.spec.configuration.supportContainerResources // [] | to_entries
    | map(select(.value.type == "sidecar" and .value.resources.limits.memory == "128M")) | reverse[]
    | {op: "remove", path: "/spec/configuration/supportContainerResources/\(.key)"})
]
