//go:build kubevirt_v1_9

// What differs on KubeVirt 1.9 (kubevirt_v1_8.go is 1.8's; test/cluster/build.ts sets the tag).
//
// Its plugin pipeline: with the Plugins feature gate on and any Plugin CR in
// the cluster, virt-handler sends the Plugins to virt-launcher (pkg/virt-handler/controller.go
// serializePlugins; virtwrap/cmd-server/server.go setPluginsFromOptions), and the define runs
// pkg/virt-launcher/virtwrap/util/libvirt_helper.go SetDomainSpecStrWithHooks: ApplySidecarHooks
// (the hook manager's OnDefineDomain, its XML read back into KubeVirt's domain model), then
// plugins.ApplyDomainHooks on that model, whose XML is what libvirt gets. That file needs libvirt
// through cgo, so its two steps are taken here with the same calls, in the same order.
package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"

	v1 "kubevirt.io/api/core/v1"
	pluginv1alpha1 "kubevirt.io/api/plugin/v1alpha1"

	cmdv1 "kubevirt.io/kubevirt/pkg/handler-launcher-com/cmd/v1"
	"kubevirt.io/kubevirt/pkg/hooks"
	virtconfig "kubevirt.io/kubevirt/pkg/virt-config"
	"kubevirt.io/kubevirt/pkg/virt-launcher/virtwrap/api"
	convertertypes "kubevirt.io/kubevirt/pkg/virt-launcher/virtwrap/converter/types"
	"kubevirt.io/kubevirt/pkg/virt-launcher/virtwrap/plugins"
)

// versionOptions: ExpandDisks is GA on 1.9, no longer an option; the vGPU and Grace options stay
// off for these VMIs (pkg/virt-handler/options.go virtualMachineOptions).
func versionOptions(_ *cmdv1.VirtualMachineOptions, _ *virtconfig.ClusterConfig) {}

// versionContext: the host's architecture, which generateConverterContext sets since 1.9
// (pkg/virt-launcher/virtwrap/manager.go).
func versionContext(context *convertertypes.ConverterContext, _ *cmdv1.VirtualMachineOptions) {
	context.HostArchitecture = "amd64"
}

const pluginPipeline = true

// defineWithHooks is SetDomainSpecStrWithHooks up to SetDomainSpecStr: the XML virt-launcher
// defines, and the sidecars' own when the plugin pipeline replaced it.
func defineWithHooks(manager hooks.Manager, vmi *v1.VirtualMachineInstance, wantedSpec *api.DomainSpec, pluginsJSON json.RawMessage) (domain string, sidecars string, err error) {
	var pluginList []pluginv1alpha1.Plugin
	if len(pluginsJSON) > 0 {
		if err := json.Unmarshal(pluginsJSON, &pluginList); err != nil {
			return "", "", fmt.Errorf("reading the Plugins: %w", err)
		}
	}
	plugins.SetPlugins(pluginList)

	// ApplySidecarHooks.
	domain, err = manager.OnDefineDomain(wantedSpec, vmi)
	if err != nil {
		return "", "", err
	}
	model := &api.DomainSpec{}
	if err := xml.Unmarshal([]byte(domain), model); err != nil {
		return "", "", err
	}
	model.DeepCopyInto(wantedSpec)

	if pluginList := plugins.GetPlugins(); len(pluginList) > 0 {
		updatedSpec, xmlStr, err := plugins.ApplyDomainHooks(pluginList, vmi, wantedSpec, pluginv1alpha1.InvocationContextBoot)
		if err != nil {
			return "", domain, err
		}
		updatedSpec.DeepCopyInto(wantedSpec)
		return xmlStr, domain, nil
	}
	return domain, "", nil
}
