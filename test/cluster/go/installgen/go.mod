// What virt-operator would install, written by KubeVirt's own install-strategy code. Each
// kubevirt-vX.Y.Z module requires this one and builds it against its own KubeVirt version (the
// lowest supported version is required here, so the main module's choice wins).
module kubevirt-vduse/test/cluster/go/installgen

go 1.24.0

require kubevirt.io/kubevirt v1.8.4
