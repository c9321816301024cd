# The two binding plugins this project registers, shared by register-vduse.jq and
# hco/networkbinding.jq. Both use the sidecar image; vduse-cloudinit uses its -cloudinit variant,
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
# What the registration records on the KubeVirt CR, so that unregister-vduse.jq removes only that.
def record_annotation: "vduse.kubevirt.io/registration";
