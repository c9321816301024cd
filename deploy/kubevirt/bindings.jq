# The two binding plugins this project registers, shared by register-vduse.jq and
# the hco/ programs. Both use the sidecar image; vduse-cloudinit uses its -cloudinit variant,
# which names its binding itself (KubeVirt 1.8 does not tell a sidecar its binding name; 1.9 does).

# --arg binding NAME: the webhook's bindingName (default vduse); the cloud-init binding is NAME-cloudinit.
def binding_name: $ARGS.named.binding // "vduse";
def cloudinit_binding_name: binding_name + "-cloudinit";

# --arg image REGISTRY/kubevirt-vduse/sidecar:VERSION (required).
def sidecar_image:
  $ARGS.named.image // error("give the sidecar image: --arg image REGISTRY/kubevirt-vduse/sidecar:VERSION");

# --arg cloudinitImage IMAGE, else the image with -cloudinit after its name: .../sidecar-cloudinit:VERSION.
def cloudinit_sidecar_image:
  if $ARGS.named.cloudinitImage then $ARGS.named.cloudinitImage
  elif (sidecar_image | contains("@")) then error("the sidecar image \(sidecar_image) is pinned by digest; give the cloud-init image's too: --arg cloudinitImage REGISTRY/kubevirt-vduse/sidecar-cloudinit@sha256:...")
  else sidecar_image | capture("^(?<name>.*?)(?<tag>:[^/:]*)?$") | "\(.name)-cloudinit\(.tag // "")"
  end;

def registration($image): {sidecarImage: $image, downwardAPI: "device-info", migration: {}};

# {vduse: {...}, "vduse-cloudinit": {...}}: the value of spec.configuration.network.binding entries.
def vduse_bindings:
  {(binding_name): registration(sidecar_image), (cloudinit_binding_name): registration(cloudinit_sidecar_image)};

def memlock_feature_gate: "ReservedOverheadMemlock";
# The sidecar memory limit that install ships (api/sidecar-resources.ts SIDECAR_MEMORY_LIMIT).
def sidecar_memory_limit: "128M";
# Bytes of a Kubernetes quantity ("128M", "64Mi", "1G", "134217728"); null when unreadable.
def quantity_bytes:
  tostring | capture("^(?<number>[0-9]+(\\.[0-9]+)?)(?<suffix>[a-zA-Z]*)$")
  | ({"": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1048576, Gi: 1073741824, Ti: 1099511627776}[.suffix]) as $scale
  | if $scale == null then null else (.number | tonumber) * $scale end;

# The first sidecar entry with a non-zero memory limit: the one KubeVirt uses (GetSupportContainerLimit).
def sidecar_entry_index:
  [(.supportContainerResources // []) | to_entries[]
    | select(.value.type == "sidecar" and ((.value.resources.limits.memory // "0") | quantity_bytes) != 0) | .key] | first;

# What giving sidecars the shipped limit does to a supportContainerResources list (null when there is
# none): "added" (no sidecar entry), "present" (one at least as large) or {raisedFrom: ITS LIMIT}.
def sidecar_memory_change:
  ({supportContainerResources: .} | sidecar_entry_index) as $index
  | if $index == null then "added"
    elif (.[$index].resources.limits.memory | quantity_bytes) as $bytes | $bytes != null and $bytes >= (sidecar_memory_limit | quantity_bytes) then "present"
    else {raisedFrom: .[$index].resources.limits.memory}
    end;

# What the registration records on the KubeVirt CR, so that unregister-vduse.jq removes only that.
def record_annotation: "vduse.kubevirt.io/registration";
