// virt-launcher's start of a VMI, played with KubeVirt's own code: its domain converter and its
// hook manager drive the binding sidecars (main.go). Each kubevirt-vX.Y.Z module requires this
// one and builds it against its own KubeVirt version, as it does installgen.
module kubevirt-vduse/test/cluster/go/launcher

go 1.24.0

require kubevirt.io/kubevirt v1.8.4
