// installgen prints what virt-operator installs for a KubeVirt CR, as one Kubernetes List in
// JSON: the CRDs (the KubeVirt CRD too), the RBAC and service accounts, KubeVirt's admission
// webhook configurations and the common instancetypes and preferences, all from KubeVirt's own
// install-strategy code (pkg/virt-operator/resource/generate/install GenerateCurrentInstallStrategy),
// and virt-api's APIServices (virt-operator sets their caBundle: pkg/virt-operator/resource/apply/apiservices.go).
// Deployments, DaemonSets and certificate Secrets are left out: the test cluster runs virt-api and
// virt-controller as local processes, and makes its own certificates.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	v1 "kubevirt.io/api/core/v1"

	"kubevirt.io/kubevirt/pkg/virt-operator/resource/generate/components"
	"kubevirt.io/kubevirt/pkg/virt-operator/resource/generate/install"
	operatorutil "kubevirt.io/kubevirt/pkg/virt-operator/util"
)

func main() {
	namespace := flag.String("namespace", "kubevirt", "the Namespace KubeVirt is installed in")
	flag.Parse()
	if err := run(*namespace); err != nil {
		fmt.Fprintf(os.Stderr, "installgen: %v\n", err)
		os.Exit(1)
	}
}

func run(namespace string) error {
	kv := &v1.KubeVirt{}
	kv.Namespace = namespace
	config := operatorutil.GetTargetConfigFromKV(kv)
	strategy, err := install.GenerateCurrentInstallStrategy(config, "", namespace)
	if err != nil {
		return fmt.Errorf("generating the install strategy: %w", err)
	}
	kubevirtCrd, err := components.NewKubeVirtCrd()
	if err != nil {
		return fmt.Errorf("the KubeVirt CRD: %w", err)
	}
	objects := []runtime.Object{kubevirtCrd}
	objects = appendAll(objects, strategy.CRDs())
	objects = appendAll(objects, strategy.ServiceAccounts())
	objects = appendAll(objects, strategy.ClusterRoles())
	objects = appendAll(objects, strategy.ClusterRoleBindings())
	objects = appendAll(objects, strategy.Roles())
	objects = appendAll(objects, strategy.RoleBindings())
	objects = appendAll(objects, strategy.ValidatingWebhookConfigurations())
	objects = appendAll(objects, strategy.MutatingWebhookConfigurations())
	// subresources.kubevirt.io (virtctl's start, stop, migrate...), served by virt-api through the aggregator.
	objects = appendAll(objects, strategy.APIServices())
	objects = appendAll(objects, strategy.Instancetypes())
	objects = appendAll(objects, strategy.Preferences())
	items := make([]json.RawMessage, 0, len(objects))
	for _, object := range objects {
		data, err := json.Marshal(object)
		if err != nil {
			return err
		}
		items = append(items, data)
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
}

func appendAll[T runtime.Object](objects []runtime.Object, items []T) []runtime.Object {
	for _, item := range items {
		objects = append(objects, item)
	}
	return objects
}
