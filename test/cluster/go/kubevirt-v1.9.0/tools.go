//go:build tools

// The binaries this module builds; `go build` names them (test/cluster/build.ts).
package tools

import (
	_ "kubevirt-vduse/test/cluster/go/installgen"
	_ "kubevirt-vduse/test/cluster/go/launcher"
	_ "kubevirt.io/kubevirt/cmd/sidecars/network-slirp-binding"
	_ "kubevirt.io/kubevirt/cmd/virt-api"
	_ "kubevirt.io/kubevirt/cmd/virt-controller"
	_ "kubevirt.io/kubevirt/cmd/virtctl"
)
