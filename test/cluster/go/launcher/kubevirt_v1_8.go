//go:build !kubevirt_v1_9

// What differs on KubeVirt 1.8 (kubevirt_v1_9.go is 1.9's; test/cluster/build.ts sets the tag).
package main

import (
	"encoding/json"
	"fmt"

	v1 "kubevirt.io/api/core/v1"

	cmdv1 "kubevirt.io/kubevirt/pkg/handler-launcher-com/cmd/v1"
	"kubevirt.io/kubevirt/pkg/hooks"
	virtconfig "kubevirt.io/kubevirt/pkg/virt-config"
	"kubevirt.io/kubevirt/pkg/virt-launcher/virtwrap/api"
	convertertypes "kubevirt.io/kubevirt/pkg/virt-launcher/virtwrap/converter/types"
)

// versionOptions: ExpandDisks, a feature gate on 1.8 (pkg/virt-handler/options.go virtualMachineOptions).
func versionOptions(options *cmdv1.VirtualMachineOptions, clusterConfig *virtconfig.ClusterConfig) {
	options.ExpandDisksEnabled = clusterConfig.ExpandDisksEnabled()
	options.ClusterConfig.ExpandDisksEnabled = clusterConfig.ExpandDisksEnabled()
}

// versionContext: what generateConverterContext (pkg/virt-launcher/virtwrap/manager.go) takes from them.
func versionContext(context *convertertypes.ConverterContext, options *cmdv1.VirtualMachineOptions) {
	context.ExpandDisksEnabled = options.ExpandDisksEnabled
}

// The define takes the sidecars' XML as it is: 1.8 has no plugin pipeline
// (pkg/virt-launcher/virtwrap/util/libvirt_helper.go SetDomainSpecStrWithHooks).

const pluginPipeline = false

func defineWithHooks(manager hooks.Manager, vmi *v1.VirtualMachineInstance, wantedSpec *api.DomainSpec, pluginsJSON json.RawMessage) (string, string, error) {
	if len(pluginsJSON) > 0 && string(pluginsJSON) != "null" && string(pluginsJSON) != "[]" {
		return "", "", fmt.Errorf("this KubeVirt has no plugin pipeline (Plugins arrived in v1.9)")
	}
	domain, err := manager.OnDefineDomain(wantedSpec, vmi)
	return domain, "", err
}
