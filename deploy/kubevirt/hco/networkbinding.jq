# The merge patch that registers the vduse and vduse-cloudinit bindings in OpenShift's HyperConverged
# CR. A merge patch merges maps, so it is keyed on the binding names: applying it again (an upgrade
# of the sidecar image) replaces only these two entries. Usage (deploy/kubevirt/README.md):
#
#   oc patch hyperconverged kubevirt-hyperconverged -n openshift-cnv --type merge \
#     -p "$(jq -n -c -f deploy/kubevirt/hco/networkbinding.jq --arg image REGISTRY/kubevirt-vduse/sidecar:0.1.0)"
#
# HCO 1.18 and later (the v1 API) read spec.networking.networkBinding; before 1.18 (v1beta1),
# spec.networkBinding: add --arg hco before-1.18. --arg cloudinitImage and --arg binding as in
# bindings.jq.
include "bindings" {search: "../"};

if ($ARGS.named.hco // "1.18") == "before-1.18" then {spec: {networkBinding: vduse_bindings}}
elif ($ARGS.named.hco // "1.18") == "1.18" then {spec: {networking: {networkBinding: vduse_bindings}}}
else error("--arg hco is 1.18 (the default, for HCO 1.18 and later) or before-1.18, not \($ARGS.named.hco)")
end
