//go:build tools

// The binaries this module builds; `go build` names them (scripts/cluster-build.sh).
package tools

import (
	_ "kubevirt-vduse/test/cluster/go/installgen"
	_ "kubevirt.io/kubevirt/cmd/virt-api"
	_ "kubevirt.io/kubevirt/cmd/virt-controller"
	_ "kubevirt.io/kubevirt/cmd/virtctl"
)
